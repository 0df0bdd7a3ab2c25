use std::sync::Arc;

use prism_event::{Device, Software, UserAgent};
use quick_cache::sync::Cache;

/// uap-core's rules (v0.18.0, Apache-2.0), see `data/uap-core/NOTICE.md`.
pub const UAP_CORE_REGEXES: &str = include_str!("../data/uap-core/regexes.yaml");

/// Longest `User-Agent` we parse, in bytes; longer headers are cut. Real
/// browsers send well under 512 bytes; regexes over megabytes of attacker
/// input are a denial of service.
pub const UA_MAX_BYTES: usize = 512;

/// The family uap-core reports when no rule matches.
const OTHER: &str = "Other";

#[derive(Debug, thiserror::Error)]
pub enum UaRulesError {
    #[error("the uap-core rules are not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("the uap-core rules do not compile: {0}")]
    Compile(#[from] ua_parser::Error),
}

/// Parses user agents with uap-core's rules; built once at start-up and
/// shared, with a bounded cache in front because a handful of user agents
/// make up most traffic.
pub struct UaParser {
    extractor: ua_parser::Extractor<'static>,
    cache: Cache<String, Arc<UserAgent>>,
}

impl UaParser {
    /// Compiles the embedded rules (about a second; do it once).
    pub fn new(cache_entries: usize) -> Result<Self, UaRulesError> {
        let regexes: ua_parser::Regexes<'static> = serde_yaml::from_str(UAP_CORE_REGEXES)?;
        Ok(Self {
            extractor: ua_parser::Extractor::try_from(regexes)?,
            cache: Cache::new(cache_entries.max(1)),
        })
    }

    /// Parses through the cache. The header is cut to [`UA_MAX_BYTES`] first.
    pub fn parse(&self, user_agent: &str) -> Arc<UserAgent> {
        let user_agent = truncate(user_agent, UA_MAX_BYTES);
        if let Some(hit) = self.cache.get(user_agent) {
            return hit;
        }
        let parsed = Arc::new(self.parse_uncached(user_agent));
        self.cache
            .insert(user_agent.to_owned(), Arc::clone(&parsed));
        parsed
    }

    /// Parses without the cache (benchmarks and the uap-core test suite).
    pub fn parse_uncached(&self, user_agent: &str) -> UserAgent {
        let (browser, os, device) = self.extractor.extract(user_agent);
        UserAgent {
            browser: browser.map_or_else(other, |b| Software {
                family: b.family.into_owned(),
                major: b.major.map(str::to_owned),
                minor: b.minor.map(str::to_owned),
                patch: b.patch.map(str::to_owned),
            }),
            os: os.map_or_else(other, |o| Software {
                family: o.os.into_owned(),
                major: o.major.map(|v| v.into_owned()),
                minor: o.minor.map(|v| v.into_owned()),
                patch: o.patch.map(|v| v.into_owned()),
            }),
            device: device.map_or_else(
                || Device {
                    family: OTHER.to_owned(),
                    brand: None,
                    model: None,
                },
                |d| Device {
                    family: d.device.into_owned(),
                    brand: d.brand.map(|v| v.into_owned()),
                    model: d.model.map(|v| v.into_owned()),
                },
            ),
        }
    }
}

fn other() -> Software {
    Software {
        family: OTHER.to_owned(),
        ..Software::default()
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn it_parses_a_desktop_chrome() {
        let parser = UaParser::new(16).unwrap();
        let ua = parser.parse(CHROME);
        assert_eq!(ua.browser.family, "Chrome");
        assert_eq!(ua.browser.major.as_deref(), Some("131"));
        assert_eq!(ua.os.family, "Linux");
        assert_eq!(ua.device.family, "Other");
    }

    #[test]
    fn an_unknown_agent_is_other_everywhere() {
        let parser = UaParser::new(16).unwrap();
        let ua = parser.parse("");
        assert_eq!(ua.browser.family, "Other");
        assert_eq!(ua.os.family, "Other");
        assert_eq!(ua.device.family, "Other");
    }

    #[test]
    fn a_cached_answer_equals_a_fresh_one() {
        let parser = UaParser::new(16).unwrap();
        let first = parser.parse(CHROME);
        let second = parser.parse(CHROME);
        assert!(
            Arc::ptr_eq(&first, &second),
            "second parse should come from the cache"
        );
        assert_eq!(*first, parser.parse_uncached(CHROME));
    }

    #[test]
    fn it_cuts_overlong_agents_on_a_character_boundary() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("가나다", 4), "가");
        let huge = format!("{CHROME}{}", "가".repeat(100_000));
        let parser = UaParser::new(16).unwrap();
        assert_eq!(parser.parse(&huge).browser.family, "Chrome");
    }
}
