//! Dates on the command line and the windows a period is split into.
//!
//! iugu's "resend by period" endpoint takes calendar dates (`AAAA-MM-DD`), and its reference
//! says it works "de 3 em 3 dias" (https://dev.iugu.com/reference/reenviar-gatilho-por-período;
//! the guide https://dev.iugu.com/docs/reenviar-gatilhos-para-o-webhook advises at most 3 days per
//! call). A window here is inclusive at both ends and covers at most 3 calendar days:
//! 2026-11-01..2026-11-03 is one window. iugu's dates are in its own time zone, São Paulo
//! (UTC-3, no daylight saving since 2019), so "today" is São Paulo's today.

use time::{Date, Duration, OffsetDateTime, UtcOffset};

use crate::error::RecoverError;

/// The widest window iugu accepts in one call.
pub const MAX_WINDOW_DAYS: u32 = 3;

/// São Paulo's offset, in which iugu counts its dates.
pub const IUGU_OFFSET: UtcOffset = time::macros::offset!(-3);

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A calendar period, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Date,
    pub to: Date,
}

impl Window {
    pub fn days(&self) -> i64 {
        (self.to - self.from).whole_days() + 1
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} .. {}", format_date(self.from), format_date(self.to))
    }
}

pub fn format_date(d: Date) -> String {
    d.format(DATE).unwrap_or_else(|_| d.to_string())
}

/// `YYYY-MM-DD`, for clap.
pub fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s.trim(), DATE).map_err(|_| format!("`{s}` is not a date: write YYYY-MM-DD"))
}

/// Today in iugu's time zone.
pub fn iugu_today(now: OffsetDateTime) -> Date {
    now.to_offset(IUGU_OFFSET).date()
}

/// Checks a period asked for on the command line, before anything is sent: `to` not before
/// `from`, nothing after `today`.
pub fn check_period(from: Date, to: Date, today: Date) -> Result<Window, RecoverError> {
    if to < from {
        return Err(RecoverError::Refused(format!(
            "--to {} is before --from {}: nothing to do",
            format_date(to),
            format_date(from)
        )));
    }
    if from > today || to > today {
        return Err(RecoverError::Refused(format!(
            "the period {} .. {} reaches into the future (today is {} in São Paulo, iugu's \
             time zone): there is nothing there yet",
            format_date(from),
            format_date(to),
            format_date(today)
        )));
    }
    Ok(Window { from, to })
}

/// Splits `period` into consecutive windows of `window_days` days (the last one may be
/// shorter). Refuses windows wider than iugu accepts.
pub fn split(period: Window, window_days: u32) -> Result<Vec<Window>, RecoverError> {
    if window_days == 0 || window_days > MAX_WINDOW_DAYS {
        return Err(RecoverError::Refused(format!(
            "--window-days {window_days}: iugu resends at most {MAX_WINDOW_DAYS} days per call; \
             choose 1 to {MAX_WINDOW_DAYS}"
        )));
    }
    let step = Duration::days(i64::from(window_days));
    let mut windows = Vec::new();
    let mut from = period.from;
    while from <= period.to {
        let end = from
            .checked_add(step - Duration::DAY)
            .map_or(period.to, |d| d.min(period.to));
        windows.push(Window { from, to: end });
        match end.next_day() {
            Some(next) => from = next,
            None => break,
        }
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn twenty_days_make_seven_windows_of_at_most_three_days() {
        let period = Window {
            from: date!(2026 - 11 - 01),
            to: date!(2026 - 11 - 20),
        };
        let windows = split(period, 3).expect("valid");
        let shown: Vec<String> = windows.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "2026-11-01 .. 2026-11-03",
                "2026-11-04 .. 2026-11-06",
                "2026-11-07 .. 2026-11-09",
                "2026-11-10 .. 2026-11-12",
                "2026-11-13 .. 2026-11-15",
                "2026-11-16 .. 2026-11-18",
                "2026-11-19 .. 2026-11-20",
            ]
        );
        // Contiguous, no gap, no overlap, none wider than 3 days.
        for pair in windows.windows(2) {
            assert_eq!(pair[0].to.next_day(), Some(pair[1].from));
        }
        assert!(windows.iter().all(|w| w.days() <= 3));
    }

    #[test]
    fn one_day_is_one_window_and_month_ends_are_crossed() {
        let day = date!(2026 - 11 - 20);
        assert_eq!(
            split(Window { from: day, to: day }, 3).expect("valid"),
            [Window { from: day, to: day }]
        );
        let windows = split(
            Window {
                from: date!(2026 - 02 - 27),
                to: date!(2026 - 03 - 02),
            },
            2,
        )
        .expect("valid");
        assert_eq!(
            windows,
            [
                Window {
                    from: date!(2026 - 02 - 27),
                    to: date!(2026 - 02 - 28)
                },
                Window {
                    from: date!(2026 - 03 - 01),
                    to: date!(2026 - 03 - 02)
                },
            ]
        );
    }

    #[test]
    fn nonsense_is_refused_with_a_clear_message() {
        let today = date!(2026 - 11 - 23);
        let err = check_period(date!(2026 - 11 - 20), date!(2026 - 11 - 01), today)
            .expect_err("to before from");
        assert!(err.to_string().contains("before --from"), "{err}");
        let err =
            check_period(date!(2026 - 11 - 20), date!(2026 - 11 - 24), today).expect_err("future");
        assert!(err.to_string().contains("future"), "{err}");
        let period = check_period(date!(2026 - 11 - 20), today, today).expect("today is fine");
        for days in [0, 4, 30] {
            let err = split(period, days).expect_err("window too wide");
            assert!(err.to_string().contains("at most 3 days"), "{err}");
        }
    }

    #[test]
    fn today_is_sao_paulos_today() {
        // 02:00 UTC on the 21st is still the 20th in São Paulo.
        assert_eq!(
            iugu_today(datetime!(2026-11-21 02:00 UTC)),
            date!(2026 - 11 - 20)
        );
        assert_eq!(
            iugu_today(datetime!(2026-11-21 03:00 UTC)),
            date!(2026 - 11 - 21)
        );
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse_date("2026-11-01"), Ok(date!(2026 - 11 - 01)));
        assert!(parse_date("01/11/2026").is_err());
        assert!(parse_date("2026-02-30").is_err());
    }
}
