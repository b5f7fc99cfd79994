//! Named working calendars: a time zone, working days and hours, and the public holidays of
//! the countries it follows. A step with a calendar counts only working time.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDef {
    pub name: Spanned<String>,
    /// An IANA zone such as "Europe/Zurich".
    pub time_zone: String,
    /// Working days: mon … sun.
    pub days: Vec<String>,
    /// Working hours, local time: "09:00-17:30".
    pub hours: String,
    /// Countries whose `[holidays]` lists apply.
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Debug)]
pub struct Calendar {
    pub name: String,
    tz: Tz,
    days: Vec<Weekday>,
    open: NaiveTime,
    close: NaiveTime,
    holidays: Vec<NaiveDate>,
}

impl Calendar {
    pub fn compile(def: &CalendarDef, holidays: &BTreeMap<String, Vec<NaiveDate>>) -> Result<Calendar, String> {
        let name = def.name.get_ref().clone();
        let tz: Tz = def.time_zone.parse().map_err(|_| format!("`{}`: unknown time zone", def.time_zone))?;
        let mut days = Vec::new();
        for d in &def.days {
            let w: Weekday = d.parse().map_err(|_| format!("`{d}` is not a day (mon … sun)"))?;
            if !days.contains(&w) {
                days.push(w);
            }
        }
        if days.is_empty() {
            return Err(format!("`{name}` has no working days"));
        }
        let (o, c) =
            def.hours.split_once('-').ok_or_else(|| format!("hours `{}` is not like 09:00-17:30", def.hours))?;
        let parse = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("hours `{}` is not like 09:00-17:30", def.hours))
        };
        let (open, close) = (parse(o)?, parse(c)?);
        if open >= close {
            return Err(format!("hours `{}`: the day must end after it starts", def.hours));
        }
        let mut dates = Vec::new();
        for country in &def.holidays {
            dates.extend(holidays.get(country).ok_or_else(|| format!("no [holidays] list for `{country}`"))?);
        }
        Ok(Calendar { name, tz, days, open, close, holidays: dates })
    }

    /// Everything that changes what this calendar computes, for the policy hash.
    pub fn fingerprint(&self) -> String {
        format!("{} {} {:?} {}-{} {:?}", self.name, self.tz, self.days, self.open, self.close, self.holidays)
    }

    fn local(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let naive = NaiveDateTime::new(date, time);
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
            // A time skipped by a clock change: the first instant after the gap.
            LocalResult::None => {
                { (1..=180).find_map(|m| self.tz.from_local_datetime(&(naive + Duration::minutes(m))).earliest()) }
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }

    fn is_working_day(&self, d: NaiveDate) -> bool {
        self.days.contains(&d.weekday()) && !self.holidays.contains(&d)
    }

    /// A step's delay on this calendar: every whole 24 hours of `after` is one working day
    /// (same local time on the next working day), the rest is working time. `3d` from Friday
    /// 13:00 is Wednesday 13:00; `2h` from Friday 16:00 on a 9-to-5 calendar is Monday 10:00.
    pub fn add(&self, start: DateTime<Utc>, after: Duration) -> Option<DateTime<Utc>> {
        let days = after.num_days();
        let rest = after - Duration::days(days);
        let mut t = self.add_working(start, Duration::zero())?;
        for _ in 0..days {
            let local = t.with_timezone(&self.tz);
            let mut d = local.date_naive();
            let mut tries = 0;
            loop {
                d = d.succ_opt()?;
                tries += 1;
                if self.is_working_day(d) {
                    break;
                }
                if tries > 3660 {
                    return None;
                }
            }
            t = self.local(d, local.time())?;
        }
        self.add_working(t, rest)
    }

    /// `start` plus `work` of working time. Zero gives the first working instant at or after
    /// `start`. None if no working time is found within ten years (a calendar of holidays).
    pub fn add_working(&self, start: DateTime<Utc>, work: Duration) -> Option<DateTime<Utc>> {
        let mut left = work;
        let mut date = start.with_timezone(&self.tz).date_naive();
        for _ in 0..3660 {
            if self.is_working_day(date) {
                let (open, close) = (self.local(date, self.open)?, self.local(date, self.close)?);
                let from = open.max(start);
                if from < close {
                    let available = close - from;
                    if left <= available {
                        return Some(from + left);
                    }
                    left -= available;
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(hours: &str, holidays: &[&str]) -> Calendar {
        let def: CalendarDef = toml::from_str(&format!(
            "name = \"ams\"\ntime_zone = \"Europe/Amsterdam\"\ndays = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"]\nhours = \"{hours}\"\nholidays = [\"NL\"]\n"
        ))
        .unwrap();
        let mut h = BTreeMap::new();
        h.insert("NL".to_string(), holidays.iter().map(|d| d.parse().unwrap()).collect());
        Calendar::compile(&def, &h).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn crosses_a_weekend_and_the_autumn_clock_change() {
        // Friday 23 October 2026, 16:00 in Amsterdam (CEST, UTC+2). Two working hours: one on
        // Friday, then the weekend (clocks go back on Sunday 25th), then Monday from 09:00 CET
        // (UTC+1): 10:00 local is 09:00 UTC.
        let c = cal("09:00-17:00", &[]);
        assert_eq!(c.add_working(t("2026-10-23T14:00:00Z"), Duration::hours(2)), Some(t("2026-10-26T09:00:00Z")));
    }

    #[test]
    fn crosses_the_spring_clock_change() {
        // Friday 27 March 2026 16:30 CET (15:30 UTC); clocks go forward on Sunday 29th.
        // One hour: 30 minutes on Friday, 30 on Monday from 09:00 CEST (07:00 UTC).
        let c = cal("09:00-17:00", &[]);
        assert_eq!(c.add_working(t("2026-03-27T15:30:00Z"), Duration::hours(1)), Some(t("2026-03-30T07:30:00Z")));
    }

    #[test]
    fn skips_holidays_and_waits_for_opening() {
        let c = cal("09:00-17:00", &["2026-12-25"]);
        // Thursday 24 Dec 20:00 local: closed; Friday 25th a holiday; weekend; Monday 28th.
        assert_eq!(c.add_working(t("2026-12-24T19:00:00Z"), Duration::zero()), Some(t("2026-12-28T08:00:00Z")));
        // Inside working hours, zero is now.
        assert_eq!(c.add_working(t("2026-12-28T10:00:00Z"), Duration::zero()), Some(t("2026-12-28T10:00:00Z")));
        // 8h from Monday 09:00 is Monday 17:00, not Tuesday.
        assert_eq!(c.add_working(t("2026-12-28T08:00:00Z"), Duration::hours(8)), Some(t("2026-12-28T16:00:00Z")));
    }

    #[test]
    fn whole_days_are_working_days() {
        let c = cal("09:00-17:00", &["2026-12-25"]);
        // Wednesday 23 Dec 14:00 local + 2 working days: Thursday 24th, (25th holiday,
        // weekend) Monday 28th at 14:00 local.
        assert_eq!(c.add(t("2026-12-23T13:00:00Z"), Duration::days(2)), Some(t("2026-12-28T13:00:00Z")));
        // Plus working hours on top: 1d4h from Monday 15:00 is Tuesday 15:00 + 2h today + 2h
        // Wednesday morning = Wednesday 11:00 local.
        assert_eq!(
            c.add(t("2026-12-28T14:00:00Z"), Duration::days(1) + Duration::hours(4)),
            Some(t("2026-12-30T10:00:00Z"))
        );
        // Across the spring change: Friday 27 March 2026 10:00 CET + 1 working day is
        // Monday 10:00 CEST (08:00 UTC).
        assert_eq!(c.add(t("2026-03-27T09:00:00Z"), Duration::days(1)), Some(t("2026-03-30T08:00:00Z")));
    }

    fn def(tz: &str, days: &str, hours: &str, holidays: &str) -> CalendarDef {
        toml::from_str(&format!(
            "name = \"c\"\ntime_zone = \"{tz}\"\ndays = [{days}]\nhours = \"{hours}\"\nholidays = [{holidays}]\n"
        ))
        .unwrap()
    }

    const WEEK: &str = "\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"";

    #[test]
    fn bad_calendars_are_refused() {
        let none = BTreeMap::new();
        let err = |d: CalendarDef| Calendar::compile(&d, &none).unwrap_err();
        assert!(err(def("Mars/Olympus", WEEK, "09:00-17:00", "")).contains("unknown time zone"));
        assert!(err(def("Europe/Zurich", "\"mon\",\"funday\"", "09:00-17:00", "")).contains("is not a day"));
        assert!(err(def("Europe/Zurich", "", "09:00-17:00", "")).contains("no working days"));
        assert!(err(def("Europe/Zurich", WEEK, "17:00-09:00", "")).contains("must end after it starts"));
        assert!(err(def("Europe/Zurich", WEEK, "09:00-09:00", "")).contains("must end after it starts"));
        assert!(err(def("Europe/Zurich", WEEK, "0900", "")).contains("is not like"));
        assert!(err(def("Europe/Zurich", WEEK, "9-17", "")).contains("is not like"));
        assert!(err(def("Europe/Zurich", WEEK, "09:00-25:00", "")).contains("is not like"));
        assert!(err(def("Europe/Zurich", WEEK, "09:00-17:00", "\"CH\"")).contains("no [holidays] list for `CH`"));
        let ok = Calendar::compile(&def("Europe/Zurich", "\"mon\",\"mon\",\"fri\"", "09:00-17:00", ""), &none).unwrap();
        assert!(ok.fingerprint().contains("[Mon, Fri]"), "{}", ok.fingerprint());
    }

    #[test]
    fn the_documented_examples_hold() {
        let c = cal("09:00-17:00", &[]);
        // `3d` from Friday 13:00 is Wednesday 13:00 (Friday 6 November 2026, CET = UTC+1).
        assert_eq!(c.add(t("2026-11-06T12:00:00Z"), Duration::days(3)), Some(t("2026-11-11T12:00:00Z")));
        // `2h` from Friday 16:00 on a 9-to-5 calendar is Monday 10:00.
        assert_eq!(c.add(t("2026-11-06T15:00:00Z"), Duration::hours(2)), Some(t("2026-11-09T09:00:00Z")));
    }

    #[test]
    fn working_time_starts_at_opening_and_stops_at_closing() {
        let c = cal("09:00-17:00", &[]);
        // Monday 9 November 2026, 07:00 local: the hour counts from 09:00.
        assert_eq!(c.add_working(t("2026-11-09T06:00:00Z"), Duration::hours(1)), Some(t("2026-11-09T09:00:00Z")));
        // A full day fits exactly; one more minute is Tuesday 09:01.
        let monday_open = t("2026-11-09T08:00:00Z");
        assert_eq!(c.add_working(monday_open, Duration::hours(8)), Some(t("2026-11-09T16:00:00Z")));
        assert_eq!(
            c.add_working(monday_open, Duration::hours(8) + Duration::minutes(1)),
            Some(t("2026-11-10T08:01:00Z"))
        );
        // At closing time exactly, nothing is left today.
        assert_eq!(c.add_working(t("2026-11-09T16:00:00Z"), Duration::zero()), Some(t("2026-11-10T08:00:00Z")));
        // A week of working time is five working days: Monday 09:00 + 40h = Friday 17:00.
        assert_eq!(c.add_working(monday_open, Duration::hours(40)), Some(t("2026-11-13T16:00:00Z")));
    }

    #[test]
    fn a_working_day_counted_from_the_weekend_starts_on_monday() {
        let c = cal("09:00-17:00", &[]);
        // Saturday 7 November 20:00 local: the day starts Monday 09:00, so 1d is Tuesday 09:00.
        assert_eq!(c.add(t("2026-11-07T19:00:00Z"), Duration::days(1)), Some(t("2026-11-10T08:00:00Z")));
        // Zero on a calendar is the next working instant, not the start.
        assert_eq!(c.add(t("2026-11-07T19:00:00Z"), Duration::zero()), Some(t("2026-11-09T08:00:00Z")));
    }

    #[test]
    fn a_holiday_list_is_shared_by_every_calendar_that_follows_the_country() {
        let mut h = BTreeMap::new();
        h.insert("CH".to_string(), vec!["2026-11-09".parse().unwrap()]);
        let c = Calendar::compile(&def("Europe/Zurich", WEEK, "09:00-17:00", "\"CH\""), &h).unwrap();
        // Friday 16:00 + 2h: Friday's last hour, then (Monday is a holiday) Tuesday 10:00.
        assert_eq!(c.add_working(t("2026-11-06T15:00:00Z"), Duration::hours(2)), Some(t("2026-11-10T09:00:00Z")));
    }
}
