//! Prometheus metrics: requests by route and status, a latency histogram, and the size of
//! the issued-statement recorder's batches. The registry lives here; the middleware that
//! observes requests is in `web`.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The process's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    record_batches: Histogram,
    push_attempts: IntCounterVec,
    push_latency: Histogram,
    push_subscriptions: IntGaugeVec,
    push_backlog: IntGauge,
    oauth_tokens: IntCounterVec,
    oauth_refused_uses: IntCounterVec,
    mail_deliveries: IntCounterVec,
    mail_backlog: IntGauge,
    mail_oldest_age: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        let record_batches = Histogram::with_opts(
            HistogramOpts::new(
                "ssa_record_batch_size",
                "Issued statements recorded per transaction (group commit)",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
        )?;
        let push_attempts = IntCounterVec::new(
            Opts::new(
                "ssa_push_attempts_total",
                "Pushed SETs by outcome: delivered, refused (RFC 8935 error) or failed",
            ),
            &["outcome"],
        )?;
        let push_latency = Histogram::with_opts(
            HistogramOpts::new(
                "ssa_push_duration_seconds",
                "Time from sending a SET to the receiver's answer",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )?;
        let push_subscriptions = IntGaugeVec::new(
            Opts::new("ssa_push_subscriptions", "Push subscriptions by state"),
            &["state"],
        )?;
        let push_backlog = IntGauge::new(
            "ssa_push_backlog_events",
            "Events not yet pushed to active and failing subscriptions",
        )?;
        let oauth_tokens = IntCounterVec::new(
            Opts::new(
                "ssa_oauth_token_requests_total",
                "Token endpoint requests by outcome: issued, or the RFC 6749 error",
            ),
            &["outcome"],
        )?;
        let oauth_refused_uses = IntCounterVec::new(
            Opts::new(
                "ssa_oauth_refused_uses_total",
                "API calls with a machine client's token refused, by error",
            ),
            &["error"],
        )?;
        let mail_deliveries = IntCounterVec::new(
            Opts::new(
                "ssa_mail_deliveries_total",
                "Mail delivery attempts by outcome: sent, retry (a temporary failure) or failed",
            ),
            &["outcome"],
        )?;
        let mail_backlog = IntGauge::new(
            "ssa_mail_backlog_messages",
            "Messages in the outbox waiting to be sent",
        )?;
        let mail_oldest_age = IntGauge::new(
            "ssa_mail_oldest_waiting_seconds",
            "Age of the oldest message waiting in the outbox (0 when none waits)",
        )?;
        registry.register(Box::new(mail_deliveries.clone()))?;
        registry.register(Box::new(mail_backlog.clone()))?;
        registry.register(Box::new(mail_oldest_age.clone()))?;
        registry.register(Box::new(oauth_tokens.clone()))?;
        registry.register(Box::new(oauth_refused_uses.clone()))?;
        registry.register(Box::new(push_attempts.clone()))?;
        registry.register(Box::new(push_latency.clone()))?;
        registry.register(Box::new(push_subscriptions.clone()))?;
        registry.register(Box::new(push_backlog.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(record_batches.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            record_batches,
            push_attempts,
            push_latency,
            push_subscriptions,
            push_backlog,
            oauth_tokens,
            oauth_refused_uses,
            mail_deliveries,
            mail_backlog,
            mail_oldest_age,
        })
    }

    /// One transaction of the statement recorder wrote `records` statements.
    pub fn observe_record_batch(&self, records: usize) {
        self.record_batches.observe(records as f64);
    }

    /// A token request ended with `outcome` (`issued` or its error code).
    pub fn oauth_token(&self, outcome: &str) {
        self.oauth_tokens.with_label_values(&[outcome]).inc();
    }

    /// An API call with a machine client's token was refused with `error`.
    pub fn oauth_use(&self, error: &str) {
        self.oauth_refused_uses.with_label_values(&[error]).inc();
    }

    /// One mail delivery attempt ended with `outcome` (`sent`, `retry`, `failed`).
    pub fn mail_outcome(&self, outcome: &str) {
        self.mail_deliveries.with_label_values(&[outcome]).inc();
    }

    /// The outbox: messages waiting, and the oldest one's age in seconds.
    pub fn mail_gauges(&self, backlog: i64, oldest_age_secs: i64) {
        self.mail_backlog.set(backlog);
        self.mail_oldest_age.set(oldest_age_secs);
    }

    /// One push attempt ended with `outcome` after `elapsed`.
    pub fn push_outcome(&self, outcome: &str, elapsed: Duration) {
        self.push_attempts.with_label_values(&[outcome]).inc();
        self.push_latency.observe(elapsed.as_secs_f64());
    }

    /// The number of subscriptions in each state and the events they have yet to receive.
    pub fn push_gauges(&self, states: &[(&str, i64)], backlog: i64) {
        for (state, count) in states {
            self.push_subscriptions
                .with_label_values(&[state])
                .set(*count);
        }
        self.push_backlog.set(backlog);
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}
