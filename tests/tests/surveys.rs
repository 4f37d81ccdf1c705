//! The surveys example over real HTTP, with a real `SQLite` file and a real rules file
//! that the test rewrites to flip `delete_survey_flag` while the app runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flowgate::engine::Engine;
use flowgate::Client;
use flowgate_examples::surveys::{self, AppState};
use reqwest::StatusCode;

struct App {
    base: String,
    dir: PathBuf,
    engine: Engine,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

const RULES_ON: &str =
    "[flags.delete_survey_flag]\nenabled = true\n\n[flags.AwesomeFeature]\nenabled = true\n\n\
     [flags.results_chart]\nrollout = 50\nstickiness = \"visitorId\"\n";
const RULES_OFF: &str =
    "[flags.delete_survey_flag]\nenabled = false\n\n[flags.AwesomeFeature]\nenabled = false\n";

impl App {
    async fn start(name: &str) -> App {
        let dir =
            std::env::temp_dir().join(format!("flowgate-surveys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("flowgate.toml"), RULES_ON).unwrap();
        let engine = Engine::watch_file(dir.join("flowgate.toml")).unwrap();
        let db = surveys::open_db(&dir.join("surveys.db")).unwrap();
        let state = AppState::new(Client::new(engine.clone()), db);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(surveys::serve(listener, state, async {
            let _ = stopped.await;
        }));
        App {
            base,
            dir,
            engine,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &str) -> (StatusCode, Option<String>) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (response.status(), location)
    }

    fn rows(&self) -> Vec<String> {
        let db = rusqlite::Connection::open(self.dir.join("surveys.db")).unwrap();
        surveys::all_surveys(&db)
            .unwrap()
            .into_iter()
            .map(|s| s.title)
            .collect()
    }

    /// Rewrites the rules file and waits for the engine to apply it.
    fn set_rules(&self, rules: &str) {
        let applied = self.engine.reload_state().applied;
        write_atomically(&self.dir.join("flowgate.toml"), rules);
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut state = self.engine.reload_state();
        while state.applied <= applied {
            assert!(
                Instant::now() < give_up,
                "the rules were never reloaded: {state:?}"
            );
            state = self
                .engine
                .wait_for_reload(state.attempts, Duration::from_secs(1));
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_atomically(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(temporary, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_and_delete_with_the_flag_on() {
    let app = App::start("on").await;
    assert_eq!(
        app.post("/surveys", "title=Lunch&question=Pizza%3F").await,
        (StatusCode::SEE_OTHER, Some("/surveys/1".into()))
    );
    assert_eq!(
        app.post("/surveys", "title=Team+%3Cday%3E&question=Where%3F")
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.rows(), ["Lunch", "Team <day>"]);

    let (status, list) = app.get("/surveys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("Lunch") && list.contains("Team &lt;day&gt;"),
        "{list}"
    );
    assert!(list.contains("action=\"/surveys/1/delete\""), "{list}");
    assert_eq!(list.matches(">Delete</button>").count(), 2);

    let (status, location) = app.post("/surveys/1/delete", "").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/surveys"))
    );
    assert_eq!(app.rows(), ["Team <day>"]);
    // A GET never deletes (a prefetcher, an `<img>` elsewhere): only POST and DELETE.
    let (status, _) = app.get("/surveys/2/delete").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.rows(), ["Team <day>"]);
    let deleted = app
        .http
        .delete(format!("{}/surveys/2/delete", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(app.rows().is_empty());

    // Deleting what is not there is a 404 too, with the flag on.
    for path in [
        "/surveys/99/delete",
        "/surveys/abc/delete",
        "/surveys/+1/delete",
    ] {
        let response = app
            .http
            .post(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("Resource not found"));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_off_hides_the_buttons_and_the_route_answers_404_live() {
    let app = App::start("off").await;
    app.post("/surveys", "title=Lunch&question=Pizza%3F").await;
    app.post("/surveys", "title=Retro&question=Went+well%3F")
        .await;

    app.set_rules(RULES_OFF);
    let (_, list) = app.get("/surveys").await;
    assert!(list.contains("Lunch") && !list.contains("Delete"), "{list}");
    // An id that does not parse answers the same: the route is gated before its path.
    for request in [
        app.get("/surveys/1/delete").await,
        app.get("/surveys/abc/delete").await,
        {
            let response = app
                .http
                .post(format!("{}/surveys/1/delete", app.base))
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        },
    ] {
        assert_eq!(request.0, StatusCode::NOT_FOUND);
        let body: serde_json::Value = serde_json::from_str(&request.1).unwrap();
        assert_eq!(body["error"], "404 Not Found: Resource not found");
    }
    assert_eq!(app.rows(), ["Lunch", "Retro"], "nothing was deleted");
    assert_eq!(
        app.get("/awesome").await,
        (StatusCode::SERVICE_UNAVAILABLE, "Flow was rejected".into())
    );

    app.set_rules(RULES_ON);
    let (_, list) = app.get("/surveys").await;
    assert!(list.contains("Delete"), "{list}");
    assert_eq!(
        app.post("/surveys/1/delete", "").await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.rows(), ["Retro"]);
    assert_eq!(
        app.get("/awesome").await,
        (StatusCode::ACCEPTED, "Flow was accepted".into())
    );
    app.stop().await;
}

/// The form as a careless or hostile visitor fills it: each mistake is shown on the
/// page, with what was typed kept (escaped), and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_shows_what_is_wrong_and_keeps_what_was_typed() {
    let app = App::start("form").await;
    for (form, says) in [
        ("title=&question=Pizza%3F", "A survey needs a title."),
        ("title=%20%20&question=x", "A survey needs a title."),
        ("title=Lunch&question=", "A survey needs a question."),
        ("question=only", "A survey needs a title."),
        ("", "A survey needs a question."),
        ("title=%E2%80%8B&question=q", "A survey needs a title."),
        (
            &format!("title={}&question=q", "x".repeat(101)),
            "at most 100 characters",
        ),
        (
            &format!("title=t&question={}", "é".repeat(201)),
            "at most 200 characters",
        ),
    ] {
        let response = app
            .http
            .post(format!("{}/surveys", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{form}"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains(says), "{form}: {page}");
    }
    let response = app
        .http
        .post(format!("{}/surveys", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("title=%3Cscript%3Ealert(1)%3C%2Fscript%3E&question=")
        .send()
        .await
        .unwrap();
    let page = response.text().await.unwrap();
    assert!(
        page.contains("value=\"&lt;script&gt;alert(1)&lt;&#x2f;script&gt;\""),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(app.rows().is_empty());
    app.stop().await;
}

/// A forged flash cookie shows nothing, and is cleared too.
async fn forged_flash_shows_nothing(app: &App) {
    let forged = app
        .http
        .get(format!("{}/surveys/1", app.base))
        .header("cookie", "flash=You+have+won+%241000")
        .send()
        .await
        .unwrap();
    assert!(forged
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("flash=;")));
    assert!(!forged.text().await.unwrap().contains("won"));
}

/// Answers and results, flash messages shown once, the visitor cookie, the 404 page
/// and the stylesheet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_answer_and_see_the_results() {
    let app = App::start("answers").await;
    let (_, location) = app.post("/surveys", "title=Lunch&question=Pizza%3F").await;
    assert_eq!(location.as_deref(), Some("/surveys/1"));
    for answer in ["yes", "yes", "no", "maybe", "yes"] {
        let (status, location) = app
            .post("/surveys/1/answer", &format!("answer={answer}"))
            .await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/surveys/1"))
        );
    }
    // Not an answer: nothing stored, the visitor is asked again.
    assert_eq!(
        app.post("/surveys/1/answer", "answer=perhaps").await,
        (StatusCode::SEE_OTHER, Some("/surveys/1".into()))
    );
    assert_eq!(
        app.post("/surveys/9/answer", "answer=yes").await,
        (StatusCode::SEE_OTHER, Some("/surveys".into())),
        "a survey deleted meanwhile: back to the list"
    );

    let response = app
        .http
        .get(format!("{}/surveys/1", app.base))
        .header("cookie", "flash=answered; visitor=vabc")
        .send()
        .await
        .unwrap();
    let cleared = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("flash=;"));
    let page = response.text().await.unwrap();
    assert!(page.contains("Thanks for answering!"), "{page}");
    assert!(cleared, "a flash message is shown once");
    forged_flash_shows_nothing(&app).await;

    assert!(page.contains("5 answers"), "{page}");
    let chart = if page.contains("data-chart=\"bars\"") {
        "bars"
    } else {
        "table"
    };
    if chart == "bars" {
        assert!(
            page.contains("3 (60%)") && page.contains("1 (20%)"),
            "{page}"
        );
    } else {
        assert!(page.contains("<td>yes</td><td>3</td>"), "{page}");
    }

    // A new visitor gets a cookie; each visitor keeps their chart, and visitors split.
    let response = app
        .http
        .get(format!("{}/surveys/1", app.base))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("visitor=v") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let mut charts = std::collections::BTreeMap::new();
    for visitor in 0..40 {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let page = app
                .http
                .get(format!("{}/surveys/1", app.base))
                .header("cookie", format!("visitor=v{visitor}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            seen.push(page.contains("data-chart=\"bars\""));
        }
        assert_eq!(seen[0], seen[1], "visitor {visitor} keeps their chart");
        *charts.entry(seen[0]).or_insert(0) += 1;
    }
    assert_eq!(
        charts.len(),
        2,
        "a 50% rollout splits 40 visitors: {charts:?}"
    );

    app.stop().await;
}

/// Pages that do not exist get the app's own 404 page; the stylesheet is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pages_get_a_404_page_and_the_styles_are_served() {
    let app = App::start("pages").await;
    app.post("/surveys", "title=Lunch&question=Pizza%3F").await;
    for path in [
        "/surveys/99",
        "/surveys/abc",
        "/nowhere",
        "/surveys/1/results",
        "/surveys/+1",
        "/surveys/01",
        "/surveys/-1",
        "/surveys/99999999999999999999",
    ] {
        let (status, page) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("There is no page at"), "{path}: {page}");
    }
    let (status, css) = app.get("/static/style.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains(".btn-danger"));
    app.stop().await;
}

/// A page on another site cannot create or delete surveys here: a browser says where a
/// form comes from, and the app refuses other sites' (403). Same-site forms pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_from_other_sites_are_refused() {
    let app = App::start("csrf").await;
    app.post("/surveys", "title=Lunch&question=Pizza%3F").await;
    let host = app.base.trim_start_matches("http://").to_owned();
    for (header, value, allowed) in [
        ("sec-fetch-site", "cross-site", false),
        ("sec-fetch-site", "same-site", false),
        ("sec-fetch-site", "same-origin", true),
        ("origin", "http://evil.example", false),
        ("origin", "null", false),
        ("origin", &format!("http://{host}"), true),
    ] {
        let response = app
            .http
            .post(format!("{}/surveys", app.base))
            .header(header, value)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("title=Forged&question=x")
            .send()
            .await
            .unwrap();
        let expected = if allowed {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(response.status(), expected, "{header}: {value}");
        let response = app
            .http
            .post(format!("{}/surveys/1/delete", app.base))
            .header(header, value)
            .send()
            .await
            .unwrap();
        if !allowed {
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{header}: {value}"
            );
        }
    }
    assert_eq!(
        app.rows().len(),
        2,
        "the two same-site forms created; nothing deleted"
    );
    app.stop().await;
}
