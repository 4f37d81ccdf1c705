//! A hello-world axum server for timing the tower layer over real HTTP (with `wrk`, in
//! `scripts/bench-layer-http.sh`): `/hello` behind the layer of `KIND`, one of the
//! routers of `flowgate_benches::layer` (`ungated`, `noop-layer`, `gated-rollout`,
//! `gated-constant`, `gated-off`), the same the in-process benchmarks call.
//!
//! `hello-server KIND PORT`; serves on 127.0.0.1 only, one worker thread, until killed.

use flowgate_benches::layer::{client, router};

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "ungated".to_owned());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let client = client();
    let Some(app) = router(&kind, &client) else {
        eprintln!("hello-server: no router {kind:?}");
        std::process::exit(2);
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("a port on 127.0.0.1");
            println!(
                "listening on {}",
                listener.local_addr().expect("an address")
            );
            axum::serve(listener, app).await.expect("serving");
        });
}
