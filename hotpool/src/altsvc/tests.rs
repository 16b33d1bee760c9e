//! The Alt-Svc parser and cache on a fake clock, and DNS HTTPS records fed into it.

use super::*;
use http::HeaderValue;

fn alt(protocol: &str, host: Option<&str>, port: u16, max_age: Option<u64>) -> Alternative {
    Alternative {
        protocol: protocol.to_owned(),
        host: host.map(str::to_owned),
        port,
        max_age,
    }
}

#[test]
fn parses_rfc_7838_forms() {
    assert_eq!(
        parse(r#"h3=":443"; ma=86400"#),
        Ok(AltSvc::Alternatives(vec![alt(
            "h3",
            None,
            443,
            Some(86400)
        )]))
    );
    assert_eq!(
        parse(r#"h3-29=":8443", h3=":443";ma=60;persist=1 , h2="alt.example:443""#),
        Ok(AltSvc::Alternatives(vec![
            alt("h3-29", None, 8443, None),
            alt("h3", None, 443, Some(60)),
            alt("h2", Some("alt.example"), 443, None),
        ]))
    );
    assert_eq!(parse(" Clear "), Ok(AltSvc::Clear));
    assert_eq!(
        parse(r#"w%3D%3D=":1""#),
        Ok(AltSvc::Alternatives(vec![alt("w==", None, 1, None)]))
    );
    assert_eq!(
        parse(r#"h3="[::1]:443"; ma="30""#),
        Ok(AltSvc::Alternatives(vec![alt(
            "h3",
            Some("::1"),
            443,
            Some(30)
        )]))
    );
    assert_eq!(
        parse(r#"h3="a\"b:443""#),
        Ok(AltSvc::Alternatives(vec![alt(
            "h3",
            Some("a\"b"),
            443,
            None
        )]))
    );
}

#[test]
fn refuses_malformed_values() {
    for bad in [
        "",
        "h3",
        "h3=:443",
        r#"h3=":443"#,
        r#"h3="443""#,
        r#"h3=":0""#,
        r#"h3=":99999""#,
        r#"h3=":443"; ma"#,
        r#"h3=":443"; ma=soon"#,
        r#"h3=":443" h2=":443""#,
        r#"h3=":443";"#,
    ] {
        assert!(parse(bad).is_err(), "{bad:?} parsed");
    }
}

fn headers(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(ALT_SVC, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn origin() -> Origin {
    ("a.test".to_owned(), 443)
}

#[test]
fn learned_alternative_is_started_once_then_used_until_ma_runs_out() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    assert_eq!(cache.route(&o, t0), Route::Tcp { start: None });
    let h = headers(&[r#"h2=":443", h3=":8443"; ma=60"#]);
    assert_eq!(cache.learn(&o, &h, t0), Some(8443));
    // Already starting: neither a second header nor a request starts it again.
    assert_eq!(cache.learn(&o, &h, t0), None);
    assert_eq!(cache.route(&o, t0), Route::Tcp { start: None });
    cache.started(&o, 8443, true, t0);
    assert_eq!(cache.route(&o, t0), Route::H3 { port: 8443 });
    let status = cache.status(&o, t0 + Duration::from_secs(10)).unwrap();
    assert_eq!(status.port, Some(8443));
    assert_eq!(status.expires_in, Some(Duration::from_secs(50)));
    assert!(status.in_use);
    assert_eq!(
        cache.route(&o, t0 + Duration::from_secs(59)),
        Route::H3 { port: 8443 }
    );
    assert_eq!(
        cache.route(&o, t0 + Duration::from_secs(60)),
        Route::Tcp { start: None }
    );
    assert_eq!(cache.status(&o, t0 + Duration::from_secs(61)), None);
    assert_eq!(cache.stats().learned, 1);
}

#[test]
fn default_and_capped_max_age() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    cache.learn(&o, &headers(&[r#"h3=":443""#]), t0);
    let status = cache.status(&o, t0).unwrap();
    assert_eq!(status.expires_in, Some(DEFAULT_MAX_AGE));
    cache.learn(&o, &headers(&[r#"h3=":443"; ma=99999999"#]), t0);
    assert_eq!(cache.status(&o, t0).unwrap().expires_in, Some(MAX_AGE_CAP));
    cache.learn(&o, &headers(&[r#"h3=":443"; ma=0"#]), t0);
    assert_eq!(cache.status(&o, t0).unwrap().port, None);
}

#[test]
fn clear_and_a_list_without_h3_remove_the_alternative() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    for replacement in ["clear", r#"h2=":443""#] {
        assert_eq!(cache.learn(&o, &headers(&[r#"h3=":443""#]), t0), Some(443));
        cache.started(&o, 443, true, t0);
        assert_eq!(cache.route(&o, t0), Route::H3 { port: 443 });
        assert_eq!(cache.learn(&o, &headers(&[replacement]), t0), None);
        assert_eq!(cache.route(&o, t0), Route::Tcp { start: None });
    }
    assert_eq!(cache.stats().cleared, 2);
}

#[test]
fn malformed_values_are_ignored_and_other_hosts_are_used_and_counted() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    assert_eq!(cache.learn(&o, &headers(&[r#"h3=":443""#]), t0), Some(443));
    cache.started(&o, 443, true, t0);
    // A malformed value changes nothing (the alternative stays).
    assert_eq!(cache.learn(&o, &headers(&[r#"h3=":443"#]), t0), None);
    assert_eq!(cache.route(&o, t0), Route::H3 { port: 443 });
    // Another host's h3: used (its addresses, the origin's identity), counted.
    let other = headers(&[r#"h3="b.test:8443""#]);
    assert_eq!(cache.learn(&o, &other, t0), Some(8443));
    assert_eq!(cache.alternative_host(&o).as_deref(), Some("b.test"));
    assert_eq!(
        cache.status(&o, t0).unwrap().host.as_deref(),
        Some("b.test")
    );
    // The first h3 alternative wins; our own host named explicitly is the origin's;
    // fields are joined.
    let both = headers(&[r#"h3="A.test:9443""#, r#"h3="b.test:443""#]);
    assert_eq!(cache.learn(&o, &both, t0), Some(9443));
    assert_eq!(cache.alternative_host(&o), None);
    let stats = cache.stats();
    assert_eq!(
        (stats.malformed, stats.other_host, stats.learned),
        (1, 1, 3)
    );
}

#[test]
fn broken_h3_backs_off_doubling_then_is_tried_again() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    let h = headers(&[r#"h3=":443"; ma=864000"#]);
    assert_eq!(cache.learn(&o, &h, t0), Some(443));
    cache.started(&o, 443, false, t0);
    assert_eq!(cache.status(&o, t0).unwrap().broken_for, Some(BROKEN_FIRST));
    // Broken: no start, whatever the headers say.
    assert_eq!(cache.learn(&o, &h, t0), None);
    assert_eq!(
        cache.route(&o, t0 + BROKEN_FIRST - Duration::from_secs(1)),
        Route::Tcp { start: None }
    );
    // Then tried again; a second failure doubles the wait.
    let t1 = t0 + BROKEN_FIRST;
    assert_eq!(cache.route(&o, t1), Route::Tcp { start: Some(443) });
    cache.started(&o, 443, false, t1);
    assert_eq!(
        cache.status(&o, t1).unwrap().broken_for,
        Some(BROKEN_FIRST * 2)
    );
    // A success clears it; a failure of a request afterwards starts at 5 min again.
    let t2 = t1 + BROKEN_FIRST * 2;
    assert_eq!(cache.route(&o, t2), Route::Tcp { start: Some(443) });
    cache.started(&o, 443, true, t2);
    assert_eq!(cache.route(&o, t2), Route::H3 { port: 443 });
    cache.mark_broken(&o, t2);
    assert_eq!(cache.route(&o, t2), Route::Tcp { start: None });
    assert_eq!(cache.status(&o, t2).unwrap().broken_for, Some(BROKEN_FIRST));
    assert_eq!(cache.stats().broken, 3);
}

#[test]
fn backoff_is_capped() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    let mut now = t0;
    for _ in 0..20 {
        cache.mark_broken(&o, now);
        // Failing again while marked (requests of one outage) counts once.
        cache.mark_broken(&o, now);
        now += cache.status(&o, now).unwrap().broken_for.unwrap();
    }
    cache.mark_broken(&o, now);
    assert_eq!(cache.status(&o, now).unwrap().broken_for, Some(BROKEN_MAX));
    assert_eq!(cache.stats().broken, 21);
}

fn records(services: &[(&str, Option<&str>, Option<u16>)], ttl: u64) -> pool_dns::HttpsRecords {
    pool_dns::HttpsRecords {
        name: "a.test.".to_owned(),
        alias: None,
        services: services
            .iter()
            .enumerate()
            .map(|(i, (alpn, target, port))| pool_dns::HttpsService {
                priority: u16::try_from(i + 1).unwrap(),
                target: target.map(str::to_owned),
                alpn: alpn.split(',').map(str::to_owned).collect(),
                no_default_alpn: false,
                port: *port,
                ipv4_hints: Vec::new(),
                ipv6_hints: Vec::new(),
            })
            .collect(),
        ttl: Duration::from_secs(ttl),
    }
}

#[test]
fn a_dns_record_with_h3_is_used_at_once_and_shares_the_broken_backoff() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    // On the record's port, at once (no background start), for the record's TTL.
    let r = records(&[("h3,h2", None, Some(8443))], 3600);
    assert_eq!(cache.apply_dns(&o, &r, t0), Some(8443));
    assert_eq!(cache.route(&o, t0), Route::H3 { port: 8443 });
    let status = cache.status(&o, t0).unwrap();
    assert!(status.in_use);
    assert_eq!(status.expires_in, Some(Duration::from_secs(3600)));
    assert_eq!((cache.stats().from_dns, cache.stats().learned), (1, 1));
    // A transport failure: the same backoff as an Alt-Svc alternative, and a record
    // read again meanwhile (the host restarted) does not undo it.
    cache.mark_broken(&o, t0);
    assert_eq!(cache.route(&o, t0), Route::Tcp { start: None });
    assert_eq!(cache.apply_dns(&o, &r, t0), None);
    assert_eq!(cache.route(&o, t0), Route::Tcp { start: None });
    // When the backoff ends, HTTP/3 is tried again in the background first.
    let t1 = t0 + BROKEN_FIRST;
    assert_eq!(cache.route(&o, t1), Route::Tcp { start: Some(8443) });
    assert_eq!(
        cache.route(&o, t0 + Duration::from_secs(3601)),
        Route::Tcp { start: None }
    );
}

#[test]
fn dns_records_without_h3_change_nothing_and_a_target_host_is_used() {
    let cache = AltSvcCache::default();
    let t0 = Instant::now();
    let o = origin();
    assert_eq!(
        cache.apply_dns(&o, &records(&[("h2", None, None)], 60), t0),
        None
    );
    assert_eq!(cache.status(&o, t0), None);
    // h3 on another host (the record's TargetName): used like an Alt-Svc one.
    let other = records(&[("h2", None, None), ("h3", Some("cdn.b.test"), None)], 60);
    assert_eq!(cache.apply_dns(&o, &other, t0), Some(443));
    assert_eq!(cache.alternative_host(&o).as_deref(), Some("cdn.b.test"));
    assert_eq!(cache.stats().other_host, 1);
    // The origin's own name as the target, no port: the origin's port.
    let own = records(&[("h3", Some("a.test"), None)], 60);
    assert_eq!(cache.apply_dns(&o, &own, t0), Some(443));
    // A TTL of 0 removes the alternative (like `ma=0`).
    assert_eq!(
        cache.apply_dns(&o, &records(&[("h3", None, None)], 0), t0),
        None
    );
    assert_eq!(cache.route(&o, t0), Route::Tcp { start: None });
    // An Alt-Svc alternative already in use is kept when the record has no h3.
    assert_eq!(
        cache.learn(&o, &headers(&[r#"h3=":8443""#]), t0),
        Some(8443)
    );
    cache.started(&o, 8443, true, t0);
    assert_eq!(
        cache.apply_dns(&o, &records(&[("h2", None, None)], 60), t0),
        None
    );
    assert_eq!(cache.route(&o, t0), Route::H3 { port: 8443 });
}
