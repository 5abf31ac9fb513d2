//! Taints and tolerations, matched as Kubernetes matches them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Effect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl Effect {
    pub fn parse(s: &str) -> Option<Effect> {
        match s {
            "NoSchedule" => Some(Effect::NoSchedule),
            "PreferNoSchedule" => Some(Effect::PreferNoSchedule),
            "NoExecute" => Some(Effect::NoExecute),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Effect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Effect::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown taint effect {s:?} (NoSchedule, PreferNoSchedule or NoExecute)"
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: Effect,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TolerationOperator {
    Equal,
    Exists,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Empty with `Exists` tolerates every taint.
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    /// `None` tolerates every effect.
    pub effect: Option<Effect>,
}

impl Toleration {
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value.as_deref().unwrap_or(""),
        }
    }
}

/// The first taint that repels a pod with these tolerations. PreferNoSchedule repels
/// only while `strict_prefer` holds (a preference not yet relaxed).
pub fn first_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    strict_prefer: bool,
) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        (t.effect != Effect::PreferNoSchedule || strict_prefer)
            && !tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: Effect) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect,
        }
    }

    fn tol(key: &str, op: TolerationOperator, value: &str, effect: Option<Effect>) -> Toleration {
        Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn matching() {
        let t = taint("gpu", Some("true"), Effect::NoSchedule);
        assert!(
            tol("gpu", TolerationOperator::Equal, "true", None).tolerates(&t),
            "empty effect matches all"
        );
        assert!(!tol("gpu", TolerationOperator::Equal, "false", None).tolerates(&t));
        assert!(
            tol(
                "gpu",
                TolerationOperator::Exists,
                "",
                Some(Effect::NoSchedule)
            )
            .tolerates(&t)
        );
        assert!(
            !tol(
                "gpu",
                TolerationOperator::Exists,
                "",
                Some(Effect::NoExecute)
            )
            .tolerates(&t)
        );
        assert!(
            tol("", TolerationOperator::Exists, "", None).tolerates(&t),
            "empty key with Exists tolerates all"
        );
    }

    #[test]
    fn prefer_no_schedule_is_soft() {
        let taints = [taint("a", None, Effect::PreferNoSchedule)];
        assert!(first_untolerated(&taints, &[], true).is_some());
        assert!(first_untolerated(&taints, &[], false).is_none());
    }
}
