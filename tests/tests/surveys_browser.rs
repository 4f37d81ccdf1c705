//! The surveys app in a real browser: headless Chromium driven over `WebDriver`
//! (`chromedriver`, started here as a process and stopped by its PID), the tutorial end
//! to end on the embedded engine with a real rules file the test edits. Needs Debian's
//! `chromium` and `chromium-driver`: `scripts/test-browser.sh` installs them and runs
//! these ignored tests; a plain `cargo test` skips them.
//!
//! Screenshots of the list, a survey and the 404 page are saved under
//! `target/screenshots/` (`docs/surveys-*.png` are copies of one run's).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client as Browser, Locator};
use flowgate::engine::Engine;
use flowgate::Client;
use flowgate_examples::surveys::{self, AppState};
use flowgate_tests::browser::{browser, Driver};

const RULES_ON: &str =
    "[flags.delete_survey_flag]\nenabled = true\n\n[flags.AwesomeFeature]\nenabled = true\n\n\
     [flags.results_chart]\nrollout = 100\nstickiness = \"visitorId\"\n";
const RULES_OFF: &str =
    "[flags.delete_survey_flag]\nenabled = false\n\n[flags.AwesomeFeature]\nenabled = true\n\n\
     [flags.results_chart]\nrollout = 100\nstickiness = \"visitorId\"\n";

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(browser: &Browser, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("surveys-{name}.png")), png).unwrap();
}

async fn text(browser: &Browser) -> String {
    browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn write_atomically(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(temporary, path).unwrap();
}

/// Creates two surveys through the form (one mistake on the way), answers the first
/// and sees its results.
async fn create_and_answer(browser: &Browser, base: &str) {
    browser.goto(&format!("{base}/surveys/new")).await.unwrap();
    submit(browser, "button[type=submit]", ".errors").await;
    assert!(text(browser).await.contains("A survey needs a title."));
    for (title, question) in [
        ("Lunch", "Pizza on Friday?"),
        ("Retro", "Did the sprint go well?"),
    ] {
        browser.goto(&format!("{base}/surveys/new")).await.unwrap();
        browser
            .find(Locator::Id("title"))
            .await
            .unwrap()
            .send_keys(title)
            .await
            .unwrap();
        browser
            .find(Locator::Id("question"))
            .await
            .unwrap()
            .send_keys(question)
            .await
            .unwrap();
        submit(browser, "button[type=submit]", ".flash").await;
        let page = text(browser).await;
        assert!(
            page.contains("Survey created.") && page.contains(title),
            "{page}"
        );
    }
    browser.goto(&format!("{base}/surveys/1")).await.unwrap();
    click(browser, "input[value=no]").await;
    submit(browser, "form.answer button", ".flash").await;
    let page = text(browser).await;
    assert!(page.contains("Thanks for answering!"), "{page}");
    assert!(page.contains("1 (100%)"), "{page}");
    shot(browser, "survey").await;
}

async fn click(browser: &Browser, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Clicks what submits a form, then waits for the next page's `then` element (the
/// browser's signal that the page changed; reading it sooner reads the old page).
async fn submit(browser: &Browser, css: &str, then: &str) {
    click(browser, css).await;
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(then))
        .await
        .unwrap_or_else(|e| panic!("no {then} after clicking {css}: {e}"));
}

/// Rewrites the rules file and waits until the engine has read it.
fn set_rules(engine: &Engine, rules: &Path, text: &str) {
    let before = engine.reload_state().attempts;
    write_atomically(rules, text);
    tokio::task::block_in_place(|| engine.wait_for_reload(before, Duration::from_secs(30)));
}

/// With the flag off, the page shows no Delete button, and the route answers the
/// tutorial's JSON 404 to a direct `GET` and `POST`, deleting nothing.
async fn flag_off_hides_and_gates(browser: &Browser, base: &str, db_path: &Path) {
    browser.refresh().await.unwrap();
    assert!(browser
        .find_all(Locator::Css("button.btn-danger"))
        .await
        .unwrap()
        .is_empty());
    assert!(text(browser).await.contains("Lunch"));
    let http = reqwest::Client::new();
    for response in [
        http.get(format!("{base}/surveys/1/delete"))
            .send()
            .await
            .unwrap(),
        http.post(format!("{base}/surveys/1/delete"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status().as_u16(), 404);
        let body: serde_json::Value =
            serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(body["error"], "404 Not Found: Resource not found");
    }
    browser
        .goto(&format!("{base}/surveys/1/delete"))
        .await
        .unwrap();
    assert!(text(browser).await.contains("Resource not found"));
    let rows = surveys::all_surveys(&surveys::open_db(db_path).unwrap()).unwrap();
    assert_eq!(rows.len(), 1, "the survey is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver: scripts/test-browser.sh"]
async fn the_tutorial_in_a_browser() {
    let dir = std::env::temp_dir().join(format!("flowgate-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("flowgate.toml");
    std::fs::write(&rules, RULES_ON).unwrap();
    let engine = Engine::watch_file(&rules).unwrap();
    let db_path = dir.join("surveys.db");
    let state = AppState::new(
        Client::new(engine.clone()),
        surveys::open_db(&db_path).unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(surveys::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let driver = Driver::start();
    let browser = browser(&driver, &dir.join("profile")).await;

    create_and_answer(&browser, &base).await;
    // The list, with Delete buttons; delete the second survey.
    browser.goto(&format!("{base}/surveys")).await.unwrap();
    shot(&browser, "list").await;
    let deletes = browser
        .find_all(Locator::Css("button.btn-danger"))
        .await
        .unwrap();
    assert_eq!(deletes.len(), 2);
    submit(&browser, "li[data-survey='2'] button.btn-danger", ".flash").await;
    let page = text(&browser).await;
    assert!(
        page.contains("Survey deleted.") && !page.contains("Retro"),
        "{page}"
    );

    set_rules(&engine, &rules, RULES_OFF);
    flag_off_hides_and_gates(&browser, &base, &db_path).await;
    set_rules(&engine, &rules, RULES_ON);
    browser.goto(&format!("{base}/surveys")).await.unwrap();
    assert_eq!(
        browser
            .find_all(Locator::Css("button.btn-danger"))
            .await
            .unwrap()
            .len(),
        1
    );

    browser.goto(&format!("{base}/no/such/page")).await.unwrap();
    assert!(text(&browser)
        .await
        .contains("There is no page at /no/such/page"));
    shot(&browser, "404").await;

    browser.close().await.unwrap();
    drop(driver);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
