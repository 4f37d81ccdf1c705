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
    "[flags.delete_survey_flag]\nenabled = true\n\n[flags.AwesomeFeature]\nenabled = true\n";
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
        (StatusCode::SEE_OTHER, Some("/surveys".into()))
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
    assert!(list.contains("href=\"/surveys/1/delete\""), "{list}");
    assert_eq!(list.matches(">Delete</a>").count(), 2);

    let (status, location) = app.post("/surveys/1/delete", "").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/surveys"))
    );
    assert_eq!(app.rows(), ["Team <day>"]);
    let (status, _) = app.get("/surveys/2/delete").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(app.rows().is_empty());

    // Deleting what is not there is a 404 too, with the flag on.
    let (status, body) = app.get("/surveys/99/delete").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Resource not found"));
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
