//! `open_fds` sees a descriptor open and close. A binary of its own (one test), so nothing
//! else in the process opens or closes descriptors while it counts.

use pool_testkit::fds::open_fds;

#[test]
fn an_opened_file_is_counted_and_closing_it_returns_to_the_baseline() {
    let baseline = open_fds();
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(open_fds(), baseline + 2);
    drop((file, sock));
    assert_eq!(open_fds(), baseline);
}
