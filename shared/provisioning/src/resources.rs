//! Resource vectors: requests, capacity, allocatable.
//!
//! The resources every pod and node has sit in a fixed array so the hot fit check is a
//! handful of integer compares; the rare extended resources (EFA, pod ENIs, ...) sit in
//! a small sorted list beside it.

use std::collections::BTreeMap;
use std::fmt;

use crate::quantity::{self, QuantityError};

pub const CPU: usize = 0;
pub const MEMORY: usize = 1;
pub const EPHEMERAL_STORAGE: usize = 2;
pub const PODS: usize = 3;
pub const NVIDIA_GPU: usize = 4;
pub const AMD_GPU: usize = 5;
pub const NEURON: usize = 6;
const FIXED: usize = 7;
const FIXED_NAMES: [&str; FIXED] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "pods",
    "nvidia.com/gpu",
    "amd.com/gpu",
    "aws.amazon.com/neuron",
];

/// CPU is kept in millicores, every other resource in whole units (bytes for memory).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Resources {
    fixed: [i64; FIXED],
    extended: Vec<(String, i64)>,
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Resources {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a Kubernetes resource list (`{cpu: 100m, memory: 1Gi}`).
    pub fn from_list<'a, I>(list: I) -> Result<Self, (String, QuantityError)>
    where
        I: IntoIterator<Item = (&'a String, &'a String)>,
    {
        let mut out = Self::new();
        for (name, value) in list {
            let parsed = if name == "cpu" {
                quantity::parse_millis(value)
            } else {
                quantity::parse_units(value)
            };
            out.set(name, parsed.map_err(|e| (name.clone(), e))?);
        }
        Ok(out)
    }

    pub fn get(&self, name: &str) -> i64 {
        match fixed_index(name) {
            Some(i) => self.fixed[i],
            None => self
                .extended
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v),
        }
    }

    pub fn fixed(&self, index: usize) -> i64 {
        self.fixed[index]
    }

    pub fn set_fixed(&mut self, index: usize, value: i64) {
        self.fixed[index] = value;
    }

    pub fn set(&mut self, name: &str, value: i64) {
        match fixed_index(name) {
            Some(i) => self.fixed[i] = value,
            None => match self
                .extended
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
            {
                Ok(i) => self.extended[i].1 = value,
                Err(i) => self.extended.insert(i, (name.to_string(), value)),
            },
        }
    }

    /// Every non-zero resource, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        FIXED_NAMES
            .iter()
            .copied()
            .zip(self.fixed.iter().copied())
            .chain(self.extended.iter().map(|(n, v)| (n.as_str(), *v)))
            .filter(|(_, v)| *v != 0)
    }

    pub fn add(&mut self, other: &Resources) {
        for (a, b) in self.fixed.iter_mut().zip(other.fixed.iter()) {
            *a += b;
        }
        for (name, v) in &other.extended {
            let cur = self.get(name);
            self.set(name, cur + v);
        }
    }

    pub fn sub(&mut self, other: &Resources) {
        for (a, b) in self.fixed.iter_mut().zip(other.fixed.iter()) {
            *a -= b;
        }
        for (name, v) in &other.extended {
            let cur = self.get(name);
            self.set(name, cur - v);
        }
    }

    /// Component-wise maximum, used for init containers and limit charges.
    pub fn max_with(&mut self, other: &Resources) {
        for (a, b) in self.fixed.iter_mut().zip(other.fixed.iter()) {
            *a = (*a).max(*b);
        }
        for (name, v) in &other.extended {
            let cur = self.get(name);
            self.set(name, cur.max(*v));
        }
    }

    /// The first resource whose request exceeds `capacity`, if any.
    pub fn exceeds<'a>(&'a self, capacity: &Resources) -> Option<&'a str> {
        for ((want, have), name) in self.fixed.iter().zip(&capacity.fixed).zip(FIXED_NAMES) {
            if want > have {
                return Some(name);
            }
        }
        self.extended
            .iter()
            .find(|(name, v)| *v > capacity.get(name))
            .map(|(name, _)| name.as_str())
    }

    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.exceeds(capacity).is_none()
    }

    /// As a Kubernetes-style map of quantity strings, for messages.
    pub fn to_list(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(name, v)| (name.to_string(), format_quantity(name, v)))
            .collect()
    }
}

fn fixed_index(name: &str) -> Option<usize> {
    FIXED_NAMES.iter().position(|n| *n == name)
}

/// A human-readable quantity: `1500m`, `2`, `512Mi`.
pub fn format_quantity(name: &str, value: i64) -> String {
    if name == "cpu" {
        if value % 1000 == 0 {
            (value / 1000).to_string()
        } else {
            format!("{value}m")
        }
    } else if name == "memory" || name == "ephemeral-storage" {
        const MI: i64 = 1 << 20;
        if value % (1 << 30) == 0 && value != 0 {
            format!("{}Gi", value >> 30)
        } else if value % MI == 0 {
            format!("{}Mi", value / MI)
        } else {
            value.to_string()
        }
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> Resources {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Resources::from_list(owned.iter().map(|(a, b)| (a, b))).unwrap()
    }

    #[test]
    fn extended_resources_add_and_fit() {
        let mut a = list(&[("cpu", "1"), ("vpc.amazonaws.com/efa", "1")]);
        let cap = list(&[("cpu", "2"), ("memory", "1Gi")]);
        assert_eq!(a.exceeds(&cap), Some("vpc.amazonaws.com/efa"));
        a.set("vpc.amazonaws.com/efa", 0);
        assert!(a.fits_in(&cap));
        a.add(&list(&[("cpu", "1500m")]));
        assert_eq!(a.exceeds(&cap), Some("cpu"));
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_quantity("cpu", 1500), "1500m");
        assert_eq!(format_quantity("cpu", 2000), "2");
        assert_eq!(format_quantity("memory", 512 << 20), "512Mi");
        assert_eq!(format_quantity("memory", 2 << 30), "2Gi");
    }
}
