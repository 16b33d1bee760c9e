//! A Redis URL whose password never reaches a log: [`RedisUrl`]'s `Display` and `Debug`
//! show `redis://user:***@host:port/db`; only [`RedisUrl::expose`] gives the real text (to
//! the client, never to a formatter).

use std::fmt;

/// A Redis URL (`redis://[user[:password]@]host[:port][/db]`, or `rediss://`).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

/// A URL that is not a Redis URL.
#[derive(Debug, thiserror::Error)]
#[error("not a Redis URL ({shown}): {why}")]
pub struct UrlError {
    /// The URL with its password hidden.
    shown: String,
    /// What is wrong with it.
    why: &'static str,
}

impl RedisUrl {
    /// Checks the URL's scheme and host (the password is kept, and never shown).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let err = |why| UrlError {
            shown: redact(url),
            why,
        };
        let rest = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("rediss://"))
            .ok_or_else(|| err("the scheme must be redis:// or rediss://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(err("no host"));
        }
        if split_list(url).nth(1).is_some() {
            return Err(err(
                "one URL expected, got a list (`mode = \"cluster\"` or \"sentinel\" takes several)",
            ));
        }
        Ok(Self(url.to_string()))
    }

    /// A list of URLs separated by commas (`redis://a:7000,redis://b:7000`: the seed nodes
    /// of a cluster, or the sentinels), each checked as [`RedisUrl::parse`]. A comma
    /// starts a new URL only where `redis://` or `rediss://` follows it (spaces around it
    /// are allowed), so a password holding a comma stays whole.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, UrlError> {
        split_list(text).map(Self::parse).collect()
    }

    /// The URL itself, password included: for the Redis client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", redact(&self.0))
    }
}

/// The URLs of a comma-separated list (see [`RedisUrl::parse_list`]).
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    let mut starts = vec![0];
    for (i, _) in text.match_indices(',') {
        let next = text[i + 1..].trim_start();
        if next.starts_with("redis://") || next.starts_with("rediss://") {
            starts.push(i + 1);
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|s| s - 1)
        .chain([text.len()])
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |(start, end)| text[start..end].trim())
}

/// `url` with the password of its user info (and a password-only user info) as `***`; in
/// a list, of each URL.
fn redact(url: &str) -> String {
    let mut parts = split_list(url);
    let first = parts.next().unwrap_or_default();
    parts.fold(redact_one(first), |out, next| out + "," + &redact_one(next))
}

fn redact_one(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return "<not a URL>".into();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let (user_info, host) = authority.split_at(at);
    let user = match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None if user_info.is_empty() => String::new(),
        None => "***".to_string(), // `redis://password@host`: the lone field is a password
    };
    format!("{scheme}{user}{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        let url = RedisUrl::parse("redis://fleet:s3cret@127.0.0.1:6379/0").unwrap();
        for shown in [url.to_string(), format!("{url:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("fleet:***@127.0.0.1:6379/0"), "{shown}");
        }
        assert_eq!(url.expose(), "redis://fleet:s3cret@127.0.0.1:6379/0");
        let only = RedisUrl::parse("redis://:s3cret@h/1").unwrap();
        assert_eq!(only.to_string(), "redis://:***@h/1");
        let bare = RedisUrl::parse("redis://s3cret@h").unwrap();
        assert_eq!(bare.to_string(), "redis://***@h");
        let plain = RedisUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(plain.to_string(), "redis://127.0.0.1:6379");
    }

    #[test]
    fn lists_are_split_before_each_scheme_and_redacted_each() {
        let list = "redis://:a@127.0.0.1:7000, redis://127.0.0.1:7001,rediss://u:b,c@h:7002/0";
        let urls = RedisUrl::parse_list(list).unwrap();
        let exposed: Vec<&str> = urls.iter().map(RedisUrl::expose).collect();
        assert_eq!(
            exposed,
            [
                "redis://:a@127.0.0.1:7000",
                "redis://127.0.0.1:7001",
                "rediss://u:b,c@h:7002/0"
            ]
        );
        assert_eq!(
            redact(list),
            "redis://:***@127.0.0.1:7000,redis://127.0.0.1:7001,rediss://u:***@h:7002/0"
        );
        assert_eq!(RedisUrl::parse_list("redis://h").unwrap().len(), 1);
        let err = RedisUrl::parse("redis://:s3cret@a:1,redis://b:2").unwrap_err();
        assert!(err.to_string().contains("list") && !err.to_string().contains("s3cret"));
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        let err = RedisUrl::parse("http://u:s3cret@h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheme") && !err.contains("s3cret"), "{err}");
        assert!(RedisUrl::parse("redis://u:p@/0").is_err());
        assert!(RedisUrl::parse("redis://:6379").is_err());
    }
}
