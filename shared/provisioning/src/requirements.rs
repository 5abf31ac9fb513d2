//! The requirement algebra Karpenter schedules with: a set of allowed values per label
//! key (possibly a complement, possibly bounded), intersected as pods join a node claim.

use std::collections::BTreeMap;
use std::fmt;

use crate::labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Gte,
    Lte,
}

impl Operator {
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            "Gte" => Operator::Gte,
            "Lte" => Operator::Lte,
            _ => return None,
        })
    }
}

/// Allowed values of one key. `complement` means "every value except `values`"; the
/// bounds (exclusive) further restrict to integers in range. A non-complement with no
/// values allows no value: the label must not exist.
#[derive(Clone, PartialEq, Eq)]
pub struct Requirement {
    complement: bool,
    values: Vec<String>,
    greater_than: Option<i64>,
    less_than: Option<i64>,
    pub min_values: Option<usize>,
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match (self.complement, self.values.is_empty()) {
            (true, true) => "Exists",
            (true, false) => "NotIn",
            (false, true) => "DoesNotExist",
            (false, false) => "In",
        };
        write!(f, "{op}")?;
        if !self.values.is_empty() {
            write!(f, " [{}]", self.values.join(","))?;
        }
        if let Some(g) = self.greater_than {
            write!(f, " >{g}")?;
        }
        if let Some(l) = self.less_than {
            write!(f, " <{l}")?;
        }
        Ok(())
    }
}

impl Requirement {
    pub fn new(op: Operator, values: &[String]) -> Result<Requirement, String> {
        let int = |v: &[String]| -> Result<i64, String> {
            match v {
                [one] => one
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| format!("value {one:?} is not an integer")),
                _ => Err(format!("needs exactly one integer value, got {}", v.len())),
            }
        };
        let any = |gt: Option<i64>, lt: Option<i64>| Requirement {
            complement: true,
            values: vec![],
            greater_than: gt,
            less_than: lt,
            min_values: None,
        };
        Ok(match op {
            Operator::In => Requirement::one_of(values.iter().cloned()),
            Operator::NotIn => {
                let mut r = Requirement::one_of(values.iter().cloned());
                r.complement = true;
                r
            }
            Operator::Exists => any(None, None),
            Operator::DoesNotExist => Requirement::one_of(std::iter::empty()),
            Operator::Gt => any(Some(int(values)?), None),
            Operator::Lt => any(None, Some(int(values)?)),
            Operator::Gte => any(Some(int(values)?.saturating_sub(1)), None),
            Operator::Lte => any(None, Some(int(values)?.saturating_add(1))),
        })
    }

    pub fn one_of(values: impl IntoIterator<Item = String>) -> Requirement {
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort();
        values.dedup();
        Requirement {
            complement: false,
            values,
            greater_than: None,
            less_than: None,
            min_values: None,
        }
    }

    pub fn exactly(value: &str) -> Requirement {
        Requirement::one_of([value.to_string()])
    }

    fn in_bounds(&self, value: &str) -> bool {
        if self.greater_than.is_none() && self.less_than.is_none() {
            return true;
        }
        let Ok(n) = value.parse::<i64>() else {
            return false;
        };
        self.greater_than.is_none_or(|g| n > g) && self.less_than.is_none_or(|l| n < l)
    }

    /// Whether a label with this value satisfies the requirement.
    pub fn has(&self, value: &str) -> bool {
        let listed = self
            .values
            .binary_search_by(|v| v.as_str().cmp(value))
            .is_ok();
        listed != self.complement && self.in_bounds(value)
    }

    /// Whether a node without this label satisfies the requirement.
    pub fn allows_absent(&self) -> bool {
        matches!(self.operator(), Operator::NotIn | Operator::DoesNotExist)
    }

    /// The operator this requirement reads as (bounds read as Exists).
    pub fn operator(&self) -> Operator {
        match (self.complement, self.values.is_empty()) {
            (true, true) if self.greater_than.is_some() => Operator::Gt,
            (true, true) if self.less_than.is_some() => Operator::Lt,
            (true, true) => Operator::Exists,
            (true, false) => Operator::NotIn,
            (false, true) => Operator::DoesNotExist,
            (false, false) => Operator::In,
        }
    }

    pub fn is_complement(&self) -> bool {
        self.complement
    }

    /// The listed values (the allowed ones unless a complement).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The single allowed value, if exactly one.
    pub fn single_value(&self) -> Option<&str> {
        match (self.complement, self.values.as_slice()) {
            (false, [one]) => Some(one),
            _ => None,
        }
    }

    /// Whether no value at all is allowed.
    pub fn is_empty(&self) -> bool {
        if !self.complement {
            return self.values.is_empty();
        }
        matches!((self.greater_than, self.less_than), (Some(g), Some(l)) if g.saturating_add(1) >= l)
    }

    pub fn intersection(&self, other: &Requirement) -> Requirement {
        let greater_than = match (self.greater_than, other.greater_than) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let less_than = match (self.less_than, other.less_than) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let min_values = self.min_values.max(other.min_values);
        let mut out = if self.complement && other.complement {
            let mut values = self.values.clone();
            values.extend(other.values.iter().cloned());
            values.sort();
            values.dedup();
            Requirement {
                complement: true,
                values,
                greater_than,
                less_than,
                min_values,
            }
        } else {
            // The listed side bounds the result; the other side filters it.
            let (listed, filter) = if self.complement {
                (other, self)
            } else {
                (self, other)
            };
            Requirement {
                values: listed
                    .values
                    .iter()
                    .filter(|v| filter.has(v))
                    .cloned()
                    .collect(),
                complement: false,
                greater_than,
                less_than,
                min_values,
            }
        };
        if !out.complement {
            let (g, l) = (out.greater_than, out.less_than);
            let probe = Requirement {
                complement: true,
                values: vec![],
                greater_than: g,
                less_than: l,
                min_values: None,
            };
            out.values.retain(|v| probe.in_bounds(v));
        }
        out
    }
}

/// Requirements by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requirements {
    by_key: BTreeMap<String, Requirement>,
}

impl Requirements {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut r = Self::new();
        for (k, v) in labels {
            r.add(k, Requirement::exactly(v));
        }
        r
    }

    pub fn get(&self, key: &str) -> Option<&Requirement> {
        self.by_key.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Requirement)> {
        self.by_key.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Adds (intersects) a requirement on `key`.
    pub fn add(&mut self, key: &str, req: Requirement) {
        match self.by_key.get_mut(key) {
            Some(existing) => *existing = existing.intersection(&req),
            None => {
                self.by_key.insert(key.to_string(), req);
            }
        }
    }

    pub fn add_all(&mut self, other: &Requirements) {
        for (k, r) in &other.by_key {
            self.add(k, r.clone());
        }
    }

    /// Karpenter's `Intersects`: on every shared key some value must remain, unless both
    /// sides only exclude values (NotIn/DoesNotExist).
    pub fn intersects(&self, incoming: &Requirements) -> Result<(), String> {
        for (key, inc) in &incoming.by_key {
            let Some(existing) = self.by_key.get(key) else {
                continue;
            };
            if existing.intersection(inc).is_empty() {
                if inc.allows_absent() && existing.allows_absent() {
                    continue;
                }
                return Err(format!("{key} {inc} conflicts with {existing}"));
            }
        }
        Ok(())
    }

    /// Karpenter's `Compatible`: like `intersects`, and a key the node side does not
    /// define is only allowed if well known or merely excluding values.
    pub fn compatible(&self, incoming: &Requirements) -> Result<(), String> {
        for (key, inc) in &incoming.by_key {
            if !self.by_key.contains_key(key) && !inc.allows_absent() && !labels::is_well_known(key)
            {
                return Err(format!("label {key:?} does not have known values"));
            }
        }
        self.intersects(incoming)
    }

    /// Whether a node with exactly these labels satisfies every requirement.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> Result<(), String> {
        for (key, req) in &self.by_key {
            match labels.get(key) {
                Some(v) if req.has(v) => {}
                None if req.allows_absent() => {}
                Some(v) => return Err(format!("label {key}={v} does not satisfy {req}")),
                None => return Err(format!("label {key} is missing ({req})")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: Operator, vals: &[&str]) -> Requirement {
        let v: Vec<String> = vals.iter().map(|s| s.to_string()).collect();
        Requirement::new(op, &v).unwrap()
    }

    #[test]
    fn in_and_notin() {
        let a = req(Operator::In, &["a", "b", "c"]);
        let b = req(Operator::NotIn, &["b"]);
        let i = a.intersection(&b);
        assert!(i.has("a") && !i.has("b") && i.has("c"));
        assert_eq!(i.operator(), Operator::In);
        let both_not = b.intersection(&req(Operator::NotIn, &["c"]));
        assert!(!both_not.has("b") && !both_not.has("c") && both_not.has("zz"));
    }

    #[test]
    fn bounds() {
        let gt = req(Operator::Gt, &["4"]);
        assert!(gt.has("5") && !gt.has("4") && !gt.has("x"));
        let range = gt.intersection(&req(Operator::Lt, &["8"]));
        assert!(range.has("7") && !range.has("8"));
        assert!(gt.intersection(&req(Operator::Lt, &["5"])).is_empty());
        let gte = req(Operator::Gte, &["4"]);
        assert!(gte.has("4") && !gte.has("3"));
        let lte = req(Operator::Lte, &["4"]);
        assert!(lte.has("4") && !lte.has("5"));
        let in_vals = req(Operator::In, &["2", "8", "16"]).intersection(&gt);
        assert_eq!(in_vals.values(), &["16".to_string(), "8".to_string()]);
        assert!(Requirement::new(Operator::Gt, &["x".into()]).is_err());
    }

    #[test]
    fn exists_and_does_not_exist() {
        let e = req(Operator::Exists, &[]);
        let d = req(Operator::DoesNotExist, &[]);
        assert!(e.has("anything") && !e.allows_absent());
        assert!(!d.has("anything") && d.allows_absent());
        assert!(e.intersection(&d).is_empty());
    }

    #[test]
    fn compatibility_rules() {
        let mut node = Requirements::new();
        node.add(labels::ZONE, req(Operator::In, &["z1", "z2"]));
        let mut pod = Requirements::new();
        pod.add(labels::ZONE, req(Operator::In, &["z2"]));
        assert!(node.compatible(&pod).is_ok());
        pod.add("team", req(Operator::In, &["a"]));
        assert!(node.compatible(&pod).unwrap_err().contains("team"));
        let mut pod2 = Requirements::new();
        pod2.add("team", req(Operator::NotIn, &["a"]));
        pod2.add(labels::ARCH, req(Operator::In, &["arm64"]));
        assert!(
            node.compatible(&pod2).is_ok(),
            "NotIn on an undefined key and a well-known key pass"
        );
        let mut pod3 = Requirements::new();
        pod3.add(labels::ZONE, req(Operator::In, &["z3"]));
        assert!(node.compatible(&pod3).is_err());
    }

    #[test]
    fn labels_match() {
        let mut r = Requirements::new();
        r.add("a", req(Operator::In, &["1"]));
        r.add("b", req(Operator::DoesNotExist, &[]));
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "1".to_string());
        assert!(r.matches_labels(&labels).is_ok());
        labels.insert("b".to_string(), "x".to_string());
        assert!(r.matches_labels(&labels).is_err());
    }
}
