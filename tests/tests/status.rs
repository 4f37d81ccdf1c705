//! The status page's routes over HTTP, as a client sees them: the page with headers
//! that keep it from loading anything from elsewhere, and its JSON. (The page itself,
//! in a browser: `status_browser.rs`.)

use flowgate::Client;

#[tokio::test]
async fn the_page_loads_nothing_from_elsewhere_and_its_json_is_the_inspection() {
    let client = Client::from_toml_str("[flags.Checkout]\nrollout = 50\n").unwrap();
    let base = flowgate_tests::serve(
        axum::Router::new()
            .nest("/ops", flowgate::status::router(client.clone()))
            .nest("/slash/", flowgate::status::router(client)),
    )
    .await;
    for path in ["/ops", "/slash/"] {
        let reply = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(reply.status(), 200, "{path}");
        let policy = reply.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
        assert_eq!(reply.headers()["cache-control"], "no-store");
        let html = reply.text().await.unwrap();
        assert!(html.contains("<title>flowgate status</title>"));
        // Nothing fetched from another origin: no absolute URL but the SVG namespace.
        let urls: Vec<&str> = html
            .match_indices("http")
            .map(|(at, _)| &html[at..(at + 30).min(html.len())])
            .filter(|url| !url.starts_with("http://www.w3.org/2000/svg"))
            .collect();
        assert!(urls.is_empty(), "{urls:?}");
    }
    let reply = reqwest::get(format!("{base}/ops/status.json"))
        .await
        .unwrap();
    assert_eq!(reply.headers()["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
    assert!(json["now_ms"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(json["source"]["name"], "flowgate.engine");
    assert_eq!(json["flags"][0]["name"], "Checkout");
    assert_eq!(
        json["flags"][0]["rules"]["strategies"][0]["kind"],
        "rollout 50% by default"
    );
}
