//! `SystemClock`: the `Clock` port read from the operating system's wall clock.

use grantd_domain::Timestamp;
use grantd_ports::Clock;

/// The system clock, in microseconds since the Unix epoch (UTC). A clock set before 1970 reads
/// as the epoch; one past the year 294,000 saturates.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_micros(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_wall_clock() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let now = SystemClock.now().as_secs();
        assert!(now >= i64::try_from(before).unwrap());
        assert!(now <= i64::try_from(before).unwrap() + 60);
    }
}
