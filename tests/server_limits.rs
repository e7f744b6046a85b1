//! What the server's own settings do on the wire: the closing time's zone,
//! and the connection limits of `[server]` (header and idle timeouts, the
//! connection limit).

mod server_support;

use chrono::NaiveTime;
use server_support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_name_the_time_zone_and_the_closing_instant_follows_it() {
    let server = TestServer::start_with(|config| {
        config.policy.closing_time = NaiveTime::from_hms_opt(23, 0, 0);
        config.policy.time_zone = Some(chrono_tz::Asia::Tokyo);
    })
    .await;
    let stats = server.stats().await;
    assert_eq!(stats["policy"]["time_zone"], "Asia/Tokyo");
    assert_eq!(stats["policy"]["closing_time"], "23:00");
    // 23:00 in Tokyo (UTC+9, no daylight saving) is 14:00 UTC, on any host.
    let next = stats["next_closing"].as_str().unwrap();
    assert!(next.contains("T14:00:00.000"), "{next}");
}
