//! `RATE_LIMITS`: the paces operators set, per subscriber or group.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// `1/s`, `10/m`, `100/h`, optionally `:burst=N` (default 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    pub const fn new(count: u32, period_seconds: u32, burst: u32) -> Self {
        RateLimit {
            per_second: count as f64 / period_seconds as f64,
            burst,
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per_second >= 1.0 {
            write!(f, "{}/s", self.per_second)?;
        } else {
            write!(f, "{}/m", self.per_second * 60.0)?;
        }
        write!(f, ":burst={}", self.burst)
    }
}

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.trim().split(':');
        let rate = parts.next().unwrap_or_default();
        let (count, period) = rate
            .split_once('/')
            .ok_or_else(|| format!("{rate}: expected <count>/<s|m|h>"))?;
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| format!("{rate}: the count is not a number"))?;
        let seconds = match period.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("{other}: expected s, m or h")),
        };
        if count <= 0.0 || !count.is_finite() {
            return Err(format!("{rate}: the count must be positive"));
        }
        let mut burst = 1;
        for option in parts {
            let value = option
                .trim()
                .strip_prefix("burst=")
                .ok_or_else(|| format!("{option}: expected burst=N"))?;
            burst = value
                .parse()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| format!("{option}: expected a positive burst"))?;
        }
        Ok(RateLimit {
            per_second: count / seconds,
            burst,
        })
    }
}

/// `RATE_LIMITS`: `name=limit` items, comma-separated, where a name is a
/// subscriber id or a group (`slack` covers every Slack subscriber) and a
/// limit is a [`RateLimit`] or `none`. An id wins over its group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimits(HashMap<String, Option<RateLimit>>);

impl FromStr for RateLimits {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut limits = HashMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, limit) = item
                .split_once('=')
                .ok_or_else(|| format!("{item}: expected name=limit"))?;
            let limit = match limit.trim() {
                "none" | "off" => None,
                other => Some(other.parse()?),
            };
            limits.insert(name.trim().to_owned(), limit);
        }
        Ok(RateLimits(limits))
    }
}

impl RateLimits {
    /// The limit for a subscriber: by id, else by group, else its default.
    pub fn resolve(&self, id: &str, group: &str, default: Option<RateLimit>) -> Option<RateLimit> {
        self.0
            .get(id)
            .or_else(|| self.0.get(group))
            .copied()
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_resolve_by_id_then_group() {
        let limits: RateLimits = "slack=1/s:burst=3, uptimerobot=10/m, slack-error=none"
            .parse()
            .unwrap();
        assert_eq!(
            limits.resolve("slack-deployment", "slack", None),
            Some(RateLimit {
                per_second: 1.0,
                burst: 3
            })
        );
        assert_eq!(limits.resolve("slack-error", "slack", None), None);
        let per_minute = limits.resolve("uptimerobot", "uptimerobot", None).unwrap();
        assert!((per_minute.per_second - 10.0 / 60.0).abs() < 1e-9);
        let default = Some(RateLimit::new(1, 1, 1));
        assert_eq!(limits.resolve("detectify", "detectify", default), default);
        assert!("slack=fast".parse::<RateLimits>().is_err());
        assert!("slack=1/d".parse::<RateLimits>().is_err());
        assert!("slack=1/s:burst=0".parse::<RateLimits>().is_err());
    }
}
