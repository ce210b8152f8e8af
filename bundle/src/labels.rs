//! The names of points, the one place they are built: progress lines, the
//! tables and reports, chart series, TUI lists and the keys `compare`
//! matches points by all use these.

use crate::schema::{Point, PointFailure};

impl Point {
    /// "exp1 inproc/maxgap private 4096B x10000 notouch"
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {}B x{} {}",
            self.workload,
            self.platform_label_or_dash(),
            self.mapping,
            self.size,
            self.iterations,
            self.touch_label()
        )
    }

    /// The label without the search strategy, the key that pairs a linear
    /// point with its max-gap twin: "exp1 inproc private 4096B x10000 notouch".
    pub fn label_without_search(&self) -> String {
        format!(
            "{} {} {} {}B x{} {}",
            self.workload,
            self.platform,
            self.mapping,
            self.size,
            self.iterations,
            self.touch_label()
        )
    }

    /// The label with `x*` for the iteration count, naming the group of
    /// points that differ only in it: "exp1 inproc/maxgap private 4096B x* notouch".
    pub fn label_without_iterations(&self) -> String {
        format!(
            "{} {} {} {}B x* {}",
            self.workload,
            self.platform_label_or_dash(),
            self.mapping,
            self.size,
            self.touch_label()
        )
    }

    /// Platform and search strategy: "inproc/maxgap", or "native" for a
    /// point with no search.
    pub fn platform_label(&self) -> String {
        match &self.search {
            Some(s) => format!("{}/{}", self.platform, s),
            None => self.platform.clone(),
        }
    }

    /// "touch" or "notouch".
    pub fn touch_label(&self) -> &'static str {
        if self.touch {
            "touch"
        } else {
            "notouch"
        }
    }

    /// Platform and search with "-" for no search: "native/-".
    fn platform_label_or_dash(&self) -> String {
        format!(
            "{}/{}",
            self.platform,
            self.search.as_deref().unwrap_or("-")
        )
    }
}

impl PointFailure {
    /// "inproc/linear private 4096B x10000" (the point's label without the
    /// workload and touch, which a failure does not record).
    pub fn label(&self) -> String {
        format!(
            "{}/{} {} {}B x{}",
            self.platform,
            self.search.as_deref().unwrap_or("-"),
            self.mapping,
            self.size,
            self.iterations
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let mut p = Point {
            workload: "exp1".into(),
            platform: "inproc".into(),
            search: Some("maxgap".into()),
            mapping: "private".into(),
            size: 4096,
            iterations: 10_000,
            ..Point::default()
        };
        assert_eq!(p.label(), "exp1 inproc/maxgap private 4096B x10000 notouch");
        assert_eq!(
            p.label_without_search(),
            "exp1 inproc private 4096B x10000 notouch"
        );
        assert_eq!(
            p.label_without_iterations(),
            "exp1 inproc/maxgap private 4096B x* notouch"
        );
        assert_eq!(p.platform_label(), "inproc/maxgap");
        p.search = None;
        p.touch = true;
        p.platform = "native".into();
        assert_eq!(p.label(), "exp1 native/- private 4096B x10000 touch");
        assert_eq!(p.platform_label(), "native");
        let f = PointFailure {
            platform: "kvm".into(),
            search: Some("linear".into()),
            mapping: "anon".into(),
            iterations: 10,
            size: 4096,
            error: "no /dev/kvm".into(),
        };
        assert_eq!(f.label(), "kvm/linear anon 4096B x10");
    }
}
