-- The overview's daily roll-ups: for each chart counted over time, the count of each series
-- on each closed day (days before today, which no longer change), and the day through which
-- each chart is rolled up (excluded). A day after it is counted from its rows.
CREATE TABLE overview_days (
    chart TEXT NOT NULL,
    day TEXT NOT NULL,
    series TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (chart, day, series)
);
CREATE TABLE overview_rolled (
    chart TEXT PRIMARY KEY NOT NULL,
    until_day TEXT NOT NULL
);
