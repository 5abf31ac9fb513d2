//! Label selectors (pod affinity, topology spread, DaemonSet matching).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SelectorOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl SelectorOp {
    pub fn parse(s: &str) -> Option<SelectorOp> {
        Some(match s {
            "In" => SelectorOp::In,
            "NotIn" => SelectorOp::NotIn,
            "Exists" => SelectorOp::Exists,
            "DoesNotExist" => SelectorOp::DoesNotExist,
            _ => return None,
        })
    }
}

/// A parsed label selector. `None` in a pod affinity term selects nothing; an empty
/// selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
    pub expressions: Vec<(String, SelectorOp, Vec<String>)>,
}

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|(k, op, values)| {
                let got = labels.get(k);
                match op {
                    SelectorOp::In => got.is_some_and(|v| values.contains(v)),
                    SelectorOp::NotIn => got.is_none_or(|v| !values.contains(v)),
                    SelectorOp::Exists => got.is_some(),
                    SelectorOp::DoesNotExist => got.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_labels_and_expressions() {
        let mut s = Selector::default();
        s.match_labels.insert("app".into(), "web".into());
        s.expressions
            .push(("tier".into(), SelectorOp::NotIn, vec!["db".into()]));
        let mut labels = BTreeMap::new();
        labels.insert("app".to_string(), "web".to_string());
        assert!(s.matches(&labels));
        labels.insert("tier".into(), "db".into());
        assert!(!s.matches(&labels));
        assert!(
            Selector::default().matches(&labels),
            "empty selector selects all"
        );
    }
}
