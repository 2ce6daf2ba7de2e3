//! The overview's charts, drawn on the server as SVG with plotters: grouped bars with axes,
//! units and a legend, on white, in colours that stay apart for the common colour-vision
//! deficiencies. Text is left to the browser's fonts.

use plotters::prelude::*;

use crate::model::overview::Chart;

/// The series' colours (Okabe and Ito's palette).
const PALETTE: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];

const WIDTH: u32 = 720;
const HEIGHT: u32 = 300;

/// The chart as an SVG document, named for assistive technology by `chart.title`; an
/// error drawing it is the text of the error.
pub fn svg(chart: &Chart) -> Result<String, String> {
    let mut out = String::new();
    draw(chart, &mut out).map_err(|e| e.to_string())?;
    // Scales down to a phone's width; named for screen readers (the table below the chart
    // holds the same numbers).
    Ok(out.replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"xMinYMin meet\" class=\"chart\" ",
            askama_escape(&chart.title)
        ),
        1,
    ))
}

fn askama_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the x axis shows of a label: days without their year, the rest as they are.
fn short(label: &str) -> String {
    match label.len() {
        10 if label.as_bytes()[4] == b'-' => label[5..].to_owned(),
        _ => label.to_owned(),
    }
}

fn draw<'a>(chart: &'a Chart, out: &'a mut String) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = chart.labels.len().max(1);
    let top = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let mut area = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..(top as f64 * 1.15))?;
    let labels = &chart.labels;
    let x_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        labels.get(i as usize).map(|l| short(l)).unwrap_or_default()
    };
    let y_label = |y: &f64| {
        if (y - y.round()).abs() > 1e-6 {
            String::new()
        } else {
            format!("{}", *y as i64)
        }
    };
    area.configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(10))
        .y_labels(6)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .x_desc(chart.axis.as_str())
        .y_desc(chart.unit.as_str())
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 12))
        .draw()?;
    let k = chart.series.len().max(1) as f64;
    let width = 0.8 / k;
    for (j, series) in chart.series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        area.draw_series(series.values.iter().enumerate().map(|(i, v)| {
            let x0 = i as f64 - 0.4 + j as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, *v as f64)], color.filled())
        }))?
        .label(series.name.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    area.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 12))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_its_axes_legend_and_a_bar_for_each_value() {
        let mut chart = Chart::new(
            "x",
            "Certificates <issued>",
            "certificates",
            "day",
            vec!["2026-12-04".into(), "2026-12-05".into()],
            &["transport", "signing"],
        );
        chart.add("transport", "2026-12-05", 3);
        chart.add("signing", "2026-12-04", 1);
        let svg = svg(&chart).unwrap();
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"Certificates &lt;issued&gt;\""),
            "{svg}"
        );
        assert!(svg.contains("viewBox"), "scales: {svg}");
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        for text in [
            "transport",
            "signing",
            "certificates",
            "day",
            "12-04",
            "12-05",
        ] {
            assert!(texts.contains(&text), "{text} in {svg}");
        }
        // The legend's two swatches and one bar per value, in the series' colours.
        assert!(svg.matches("fill=\"#0072B2\"").count() >= 3, "{svg}");
        assert!(svg.matches("fill=\"#E69F00\"").count() >= 3, "{svg}");
    }
}
