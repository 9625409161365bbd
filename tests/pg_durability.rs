//! Acknowledged means durable, also at the two places where an append's own flush is not what
//! makes it so: an idempotency key found in another app server's event that is committed
//! (asynchronously) but not yet flushed, and an append whose flush was cut off and whose
//! batch the trail then reads back. A TCP proxy in front of one app server holds or cuts its
//! flush transaction; the server is then crashed (`pg_ctl stop -m immediate`) and the
//! acknowledged event must still be there.
#![cfg(feature = "postgres")]

mod pg_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use auditkit::postgres::{PgOptions, PgStore};
use auditkit::{AuditStore, AuditTrail, NewEvent};
use postgres::{Config, NoTls};

/// Forwards TCP to `port`; once `hold` is set, a client→server chunk holding
/// `pg_logical_emit_message` is never forwarded (app server A stalls before its flush).
fn proxy(port: u16, hold: Arc<AtomicBool>) -> u16 {
    proxy_with(port, hold, false)
}

fn proxy_with(port: u16, hold: Arc<AtomicBool>, cut: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let me = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for c in l.incoming() {
            let client = c.unwrap();
            let server = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let hold = hold.clone();
            let (mut client, mut server) = (client, server);
            thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let needle = b"pg_logical_emit_message";
                    if hold.load(Ordering::SeqCst)
                        && buf[..n].windows(needle.len()).any(|w| w == needle)
                    {
                        if cut {
                            eprintln!(
                                "pg_durability: cutting A's connection at its flush transaction"
                            );
                            hold.store(false, Ordering::SeqCst);
                            let _ = client.shutdown(std::net::Shutdown::Both);
                            let _ = server.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        eprintln!("pg_durability: holding A's flush transaction");
                        loop {
                            thread::sleep(Duration::from_secs(1));
                        }
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
            thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
            });
        }
    });
    me
}

/// An app server whose one connection goes through the proxy on `port`, with a few events
/// recorded (so the connection and its statements are warm before anything is held).
fn app_server_behind(port: u16) -> AuditTrail<PgStore> {
    let mut config: Config = format!("postgres://postgres@127.0.0.1:{port}/postgres")
        .parse()
        .unwrap();
    config.connect_timeout(Duration::from_secs(5));
    let trail = AuditTrail::new(
        PgStore::connect_with(
            config,
            NoTls,
            PgOptions::default().schema("durability").max_connections(1),
        )
        .unwrap(),
    );
    for i in 0..5 {
        trail
            .record(NewEvent::new("probe.warmup").context("i", i))
            .unwrap();
    }
    trail
}

#[test]
fn idempotent_hit_on_an_unflushed_event_survives_a_crash() {
    let Some(cluster) = pg_support::own_durable_cluster() else {
        return;
    };
    let url = cluster.url();
    let mut raw = pg_support::raw_client(&url);
    drop(PgStore::connect_with_schema(&url, "durability").unwrap());

    // App server A, through the proxy.
    let hold = Arc::new(AtomicBool::new(false));
    let a = app_server_behind(proxy(cluster.port, hold.clone()));
    // App server B, direct, default (durable) settings.
    let b = AuditTrail::new(PgStore::connect_with_schema(&url, "durability").unwrap());
    b.record(NewEvent::new("probe.warmup.b")).unwrap();

    hold.store(true, Ordering::SeqCst);
    let a_thread = thread::spawn(move || {
        let r = a.record(NewEvent::new("probe.keyed").idempotency_key("k-1"));
        eprintln!(
            "pg_durability: A's record returned {:?}",
            r.as_ref().map(|e| e.seq)
        );
    });
    // Wait until A's event is committed (asynchronously) and visible.
    assert!(pg_support::wait_until(10, || raw
        .query_one(
            "SELECT count(*) FROM durability.auditkit_events WHERE idempotency_key = 'k-1'",
            &[]
        )
        .map(|r| r.get::<_, i64>(0) == 1)
        .unwrap_or(false)));
    // B retries the same request: acknowledged.
    let acked = b
        .record(NewEvent::new("probe.keyed").idempotency_key("k-1"))
        .expect("B acknowledges");
    eprintln!(
        "pg_durability: B acknowledged seq {} id {}",
        acked.seq, acked.id
    );

    cluster.stop_immediately().unwrap();
    cluster.start_again().unwrap();
    let fresh = PgStore::connect_with_schema(&cluster.url(), "durability").unwrap();
    let head = fresh.head().unwrap();
    let found = fresh.read(acked.seq, 1).unwrap();
    eprintln!(
        "probe: after restart head {} , seq {} holds {:?}",
        head.seq,
        acked.seq,
        found.first().map(|e| e.id)
    );
    drop(a_thread);
    assert_eq!(
        found.first().map(|e| e.id),
        Some(acked.id),
        "B's acknowledged event (seq {}, id {}) was lost by the crash",
        acked.seq,
        acked.id
    );
}

#[test]
fn read_back_after_a_lost_flush_survives_a_crash() {
    let Some(cluster) = pg_support::own_durable_cluster() else {
        return;
    };
    let url = cluster.url();
    drop(PgStore::connect_with_schema(&url, "durability").unwrap());
    let hold = Arc::new(AtomicBool::new(false));
    let a = app_server_behind(proxy_with(cluster.port, hold.clone(), true));
    hold.store(true, Ordering::SeqCst);
    let r = a.record(NewEvent::new("probe.after_cut"));
    eprintln!(
        "pg_durability: A's record returned {:?}",
        r.as_ref().map(|e| (e.seq, e.id))
    );
    let acked = r.expect("A acknowledged (read back after the lost flush)");
    cluster.stop_immediately().unwrap();
    cluster.start_again().unwrap();
    let fresh = PgStore::connect_with_schema(&cluster.url(), "durability").unwrap();
    let head = fresh.head().unwrap();
    let found = fresh.read(acked.seq, 1).unwrap();
    eprintln!(
        "pg_durability: after restart head {}, seq {} holds {:?}",
        head.seq,
        acked.seq,
        found.first().map(|e| e.id)
    );
    assert_eq!(
        found.first().map(|e| e.id),
        Some(acked.id),
        "A's acknowledged event (seq {}) was lost",
        acked.seq
    );
}
