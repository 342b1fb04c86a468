//! The platform event store (seed 002) against a real PostgreSQL: the
//! Datagrok schema, a small hand-made history, collection into
//! platform_events / platform_errors / platform_users, re-collection, and
//! the derived analyses with every row worked out by hand (see the comments
//! at the workload).

use std::fmt::Write as _;

use chrono::NaiveDate;
use usagelake::config::{Params, Secret};
use usagelake::lake::Lake;
use usagelake::platform::{PlatformParams, derive};
use usagelake::sources::event_store::{CollectRange, EventStoreError, EventStoreSource, collect};

use crate::pg_server::PgServer;
use crate::support::{render, temp_lake};

const CONNECTOR: &str = "5f0c4a52-9d1e-4f43-8a51-0d1f1c2b3a4e";
const PASSWORD: &str = "store-pw-7Hq";

/// A readable UUID: the kind in the first block, a number in the last.
fn id(kind: &str, n: u32) -> String {
    format!("{kind}-0000-4000-8000-{n:012}")
}
const EVENT: &str = "00000e00";
const TYPE: &str = "000000f0";
const PARAM: &str = "000000a0";
const SESSION: &str = "000000c0";
const USER: &str = "000000b0";
const GROUP: &str = "000000d0";
const PACKAGE: &str = "0000aa00";
const PUBLISHED: &str = "0000bb00";

const SCHEMA: &str = r#"
CREATE TABLE groups (id uuid PRIMARY KEY, name text, personal boolean);
CREATE TABLE groups_relations (parent_id uuid, child_id uuid);
CREATE TABLE users (id uuid PRIMARY KEY, login text, friendly_name text, email text, group_id uuid, joined timestamp);
CREATE TABLE users_sessions (id uuid PRIMARY KEY, user_id uuid, started timestamp, ip text);
CREATE TABLE packages (id uuid PRIMARY KEY, name text);
CREATE TABLE published_packages (id uuid PRIMARY KEY, name text, package_id uuid);
CREATE TABLE entities (id uuid PRIMARY KEY, package_id uuid);
CREATE TABLE event_types (id uuid PRIMARY KEY, name text, friendly_name text, source text,
    is_error boolean, error_source text, error_stack_trace_hash text);
CREATE TABLE event_parameters (id uuid PRIMARY KEY, event_type_id uuid, name text, type text, is_input boolean);
CREATE TABLE events (id uuid PRIMARY KEY, event_type_id uuid, session_id uuid, event_time timestamp,
    event_time_finished timestamp, description text, friendly_name text, is_error boolean,
    error_message text, error_stack_trace text);
CREATE TABLE event_parameter_values (event_id uuid, parameter_id uuid, value text, value_uuid uuid);
"#;

/// The store's reference data. Groups nest: All users ⊃ Chemists ⊃
/// MedChem ⊃ alice's personal group; Chemists ⊃ bob's; All users ⊃
/// carol's; dave's personal group is in none.
fn reference_data() -> String {
    let mut sql = String::new();
    let groups = [
        (1, "All users", false),
        (2, "Chemists", false),
        (3, "MedChem", false),
        (11, "alice", true),
        (12, "bob", true),
        (13, "carol", true),
        (14, "dave", true),
    ];
    for (n, name, personal) in groups {
        writeln!(
            sql,
            "INSERT INTO groups VALUES ('{}', '{name}', {personal});",
            id(GROUP, n)
        )
        .unwrap();
    }
    for (parent, child) in [(1, 2), (2, 3), (3, 11), (2, 12), (1, 13)] {
        writeln!(
            sql,
            "INSERT INTO groups_relations VALUES ('{}', '{}');",
            id(GROUP, parent),
            id(GROUP, child)
        )
        .unwrap();
    }
    let users = [
        (1, "alice", "Alice A", 11, "2026-03-09 10:00:00"),
        (2, "bob", "Bob B", 12, "2026-03-06 08:00:00"),
        (3, "carol", "Carol C", 13, "2026-01-01 08:00:00"),
        (4, "dave", "Dave D", 14, "2026-03-08 07:00:00"),
    ];
    for (n, login, name, group, joined) in users {
        writeln!(
            sql,
            "INSERT INTO users VALUES ('{}', '{login}', '{name}', '{login}@example.com', '{}', '{joined}');",
            id(USER, n),
            id(GROUP, group)
        )
        .unwrap();
    }
    // Sessions: alice's crosses midnight (03-09 → 03-10).
    let sessions = [
        (1, 1, "2026-03-09 23:50:00"),
        (2, 2, "2026-03-06 09:55:00"),
        (3, 2, "2026-03-08 10:55:00"),
        (4, 3, "2026-03-10 11:55:00"),
        (5, 4, "2026-03-08 08:55:00"),
        (6, 3, "2026-03-01 08:55:00"),
    ];
    for (n, user, started) in sessions {
        writeln!(
            sql,
            "INSERT INTO users_sessions VALUES ('{}', '{}', '{started}', '10.0.0.{n}');",
            id(SESSION, n),
            id(USER, user)
        )
        .unwrap();
    }
    sql.push_str(&format!(
        "INSERT INTO packages VALUES ('{}', 'Chem'), ('{}', 'Viz');\n",
        id(PACKAGE, 1),
        id(PACKAGE, 2)
    ));
    sql.push_str(&format!(
        "INSERT INTO published_packages VALUES ('{}', 'Chem', '{}'), ('{}', 'Viz', '{}');\n",
        id(PUBLISHED, 1),
        id(PACKAGE, 1),
        id(PUBLISHED, 2),
        id(PACKAGE, 2)
    ));
    // Entities: the function Chem:descriptors (its event type) and a
    // molecule, both of the published Chem package.
    sql.push_str(&format!(
        "INSERT INTO entities VALUES ('{}', '{}'), ('00000ccc-0000-4000-8000-000000000001', '{}');\n",
        id(TYPE, 2),
        id(PUBLISHED, 1),
        id(PUBLISHED, 1)
    ));
    let types = [
        (1, "open-file", "Open file", "usage", "NULL"),
        (
            2,
            "Chem:descriptors",
            "Descriptors",
            "function-package",
            "NULL",
        ),
        (3, "sum", "Sum", "function", "'sigS'"),
        (4, "http-request", "HTTP request", "info", "NULL"),
        (5, "error", "Error", "error", "'sigA'"),
        (6, "add-viewer", "Add viewer", "audit", "NULL"),
    ];
    for (n, name, friendly, source, hash) in types {
        writeln!(
            sql,
            "INSERT INTO event_types VALUES ('{}', '{name}', '{friendly}', '{source}', {}, NULL, {hash});",
            id(TYPE, n),
            source == "error"
        )
        .unwrap();
    }
    let params = [
        (1, 1, "file", "string"),
        (2, 1, "package", "package"),
        (3, 2, "molecules", "string"),
        (4, 2, "token", "string"),
        (5, 3, "x", "int"),
        (6, 4, "method", "string"),
        (7, 4, "route", "string"),
        (8, 4, "status", "int"),
        (9, 4, "ms", "double"),
        (10, 6, "entity", "entity_id"),
    ];
    for (n, event_type, name, kind) in params {
        writeln!(
            sql,
            "INSERT INTO event_parameters VALUES ('{}', '{}', '{name}', '{kind}', true);",
            id(PARAM, n),
            id(TYPE, event_type)
        )
        .unwrap();
    }
    sql
}

/// One event: (n, type, session, start, finished, is_error, message, params).
type Event<'a> = (
    u32,
    u32,
    u32,
    &'a str,
    Option<&'a str>,
    bool,
    Option<&'a str>,
    &'a [(u32, &'a str)],
);

fn insert_events(events: &[Event<'_>]) -> String {
    let mut sql = String::new();
    for (n, event_type, session, start, finished, is_error, message, params) in events {
        let quote = |v: Option<&str>| v.map_or("NULL".to_string(), |v| format!("'{v}'"));
        writeln!(
            sql,
            "INSERT INTO events VALUES ('{}', '{}', '{}', '{start}', {}, NULL, NULL, {is_error}, {}, NULL);",
            id(EVENT, *n),
            id(TYPE, *event_type),
            id(SESSION, *session),
            quote(*finished),
            quote(*message)
        )
        .unwrap();
        for (param, value) in *params {
            // A package parameter holds a published package's id, an
            // entity parameter an entity's: both also as value_uuid.
            let value_uuid = if *param == 2 || *param == 10 {
                format!("'{value}'")
            } else {
                "NULL".into()
            };
            writeln!(
                sql,
                "INSERT INTO event_parameter_values VALUES ('{}', '{}', '{value}', {value_uuid});",
                id(EVENT, *n),
                id(PARAM, *param)
            )
            .unwrap();
        }
    }
    sql
}

const MOLECULE: &str = "00000ccc-0000-4000-8000-000000000001";
const VIZ: &str = "0000bb00-0000-4000-8000-000000000002";

/// The history. Types: 1 open-file (usage), 2 Chem:descriptors
/// (function-package, owned by Chem), 3 sum (function, Core), 4
/// http-request (info), 5 error (sigA), 6 add-viewer (audit).
/// Sessions: 1 alice, 2-3 bob, 4 carol, 5 dave, 6 carol (old).
fn history() -> Vec<Event<'static>> {
    vec![
        (
            1,
            1,
            6,
            "2026-03-01 09:00:00",
            None,
            false,
            None,
            &[(1, "old.csv")],
        ),
        (
            2,
            1,
            2,
            "2026-03-06 10:00:00",
            None,
            false,
            None,
            &[(1, "b.csv"), (2, VIZ)],
        ),
        (
            3,
            5,
            2,
            "2026-03-06 10:05:00",
            None,
            false,
            Some("boom old"),
            &[],
        ),
        (
            4,
            4,
            5,
            "2026-03-08 09:00:00",
            None,
            false,
            None,
            &[(6, "GET"), (7, "/api/a"), (8, "200"), (9, "10")],
        ),
        (
            5,
            4,
            5,
            "2026-03-08 09:01:00",
            None,
            false,
            None,
            &[(6, "GET"), (7, "/api/a"), (8, "500"), (9, "30")],
        ),
        (
            6,
            3,
            5,
            "2026-03-08 09:02:00",
            Some("2026-03-08 09:02:00.25"),
            false,
            None,
            &[(5, "1")],
        ),
        (
            7,
            2,
            3,
            "2026-03-08 11:00:00",
            Some("2026-03-08 11:00:01.5"),
            false,
            None,
            &[(3, "CCO"), (4, "s3cret-token")],
        ),
        (
            8,
            5,
            3,
            "2026-03-08 11:10:00",
            None,
            false,
            Some("boom"),
            &[],
        ),
        (
            9,
            1,
            1,
            "2026-03-09 23:55:00",
            None,
            false,
            None,
            &[(1, "a.csv")],
        ),
        (
            10,
            5,
            1,
            "2026-03-10 00:01:00",
            None,
            false,
            Some("boom 2"),
            &[],
        ),
        (
            11,
            2,
            1,
            "2026-03-10 00:05:00",
            Some("2026-03-10 00:05:00.5"),
            false,
            None,
            &[(3, "C")],
        ),
        (
            12,
            3,
            1,
            "2026-03-10 00:06:00",
            Some("2026-03-10 00:06:00.1"),
            true,
            Some("division by zero"),
            &[(5, "0")],
        ),
        (
            13,
            6,
            4,
            "2026-03-10 12:00:00",
            None,
            false,
            None,
            &[(10, MOLECULE)],
        ),
        (
            14,
            4,
            4,
            "2026-03-10 12:01:00",
            None,
            false,
            None,
            &[(6, "GET"), (7, "/api/a"), (8, "200"), (9, "20")],
        ),
        (
            15,
            4,
            4,
            "2026-03-10 12:02:00",
            None,
            false,
            None,
            &[(6, "POST"), (7, "/api/b"), (8, "404"), (9, "5")],
        ),
        (
            16,
            2,
            4,
            "2026-03-10 12:03:00",
            Some("2026-03-10 12:03:02.5"),
            false,
            None,
            &[(3, "N")],
        ),
        (
            18,
            1,
            4,
            "2026-03-11 08:00:00",
            None,
            false,
            None,
            &[(1, "late.csv")],
        ),
    ]
}

struct Fixture {
    pg: PgServer,
    url: String,
}

fn store_with_history() -> Fixture {
    let pg = PgServer::start();
    pg.create_user("platform", PASSWORD);
    pg.create_database("datagrok", "platform");
    pg.psql("platform", PASSWORD, "datagrok", SCHEMA);
    pg.psql("platform", PASSWORD, "datagrok", &reference_data());
    pg.psql("platform", PASSWORD, "datagrok", &insert_events(&history()));
    // The password comes from the connector's `password`, not the URL.
    let url = format!("postgres://platform@127.0.0.1:{}/datagrok", pg.port());
    Fixture { pg, url }
}

fn source(url: &str) -> EventStoreSource {
    let mut source = EventStoreSource::new(CONNECTOR, url);
    source.password = Some(Secret::new(PASSWORD));
    source.sensitive_parameters = vec!["Token".into()];
    source
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn e(n: u32) -> String {
    id(EVENT, n)
}

#[tokio::test]
async fn collects_the_store_and_a_second_run_changes_nothing() {
    let fixture = store_with_history();
    let (_dir, lake) = temp_lake();
    let first = collect(&lake, &source(&fixture.url), CollectRange::Incremental)
        .await
        .unwrap();
    assert_eq!(first.read_from, None, "the first run reads the whole store");
    assert_eq!(
        first.days,
        [
            "2026-03-01",
            "2026-03-06",
            "2026-03-08",
            "2026-03-09",
            "2026-03-10",
            "2026-03-11"
        ]
        .map(day)
    );
    assert_eq!(
        (first.events_read, first.errors_read, first.users),
        (17, 4, 4)
    );
    // 17 events + 4 errors; 6 event days + 3 error days.
    assert_eq!((first.rows_upserted, first.partitions_written), (21, 9));
    assert_eq!(
        first.watermark.unwrap().to_rfc3339(),
        "2026-03-11T08:00:00+00:00"
    );

    let events = render(
        &lake,
        "SELECT event_id, event_type, source, friendly_name, user_login, session_id, package, \
         duration_ms, is_error, parameters, event_time, \"date\" FROM platform_events \
         ORDER BY event_time",
    )
    .await;
    let s = |n| id(SESSION, n);
    let expected = [
        format!(
            "{}|open-file|usage|Open file|carol|{}|Core|NULL|false|{{\"file\":\"old.csv\"}}|2026-03-01T09:00:00Z|2026-03-01",
            e(1),
            s(6)
        ),
        format!(
            "{}|open-file|usage|Open file|bob|{}|Viz|NULL|false|{{\"file\":\"b.csv\",\"package\":\"{VIZ}\"}}|2026-03-06T10:00:00Z|2026-03-06",
            e(2),
            s(2)
        ),
        format!(
            "{}|error|error|Error|bob|{}|Core|NULL|true|NULL|2026-03-06T10:05:00Z|2026-03-06",
            e(3),
            s(2)
        ),
        format!(
            "{}|http-request|info|HTTP request|dave|{}|Core|10.0|false|{{\"method\":\"GET\",\"ms\":\"10\",\"route\":\"/api/a\",\"status\":\"200\"}}|2026-03-08T09:00:00Z|2026-03-08",
            e(4),
            s(5)
        ),
        format!(
            "{}|http-request|info|HTTP request|dave|{}|Core|30.0|false|{{\"method\":\"GET\",\"ms\":\"30\",\"route\":\"/api/a\",\"status\":\"500\"}}|2026-03-08T09:01:00Z|2026-03-08",
            e(5),
            s(5)
        ),
        format!(
            "{}|sum|function|Sum|dave|{}|Core|250.0|false|{{\"x\":\"1\"}}|2026-03-08T09:02:00Z|2026-03-08",
            e(6),
            s(5)
        ),
        // The sensitive `token` parameter is gone; the package comes from
        // the function's own entity.
        format!(
            "{}|Chem:descriptors|function-package|Descriptors|bob|{}|Chem|1500.0|false|{{\"molecules\":\"CCO\"}}|2026-03-08T11:00:00Z|2026-03-08",
            e(7),
            s(3)
        ),
        format!(
            "{}|error|error|Error|bob|{}|Core|NULL|true|NULL|2026-03-08T11:10:00Z|2026-03-08",
            e(8),
            s(3)
        ),
        format!(
            "{}|open-file|usage|Open file|alice|{}|Core|NULL|false|{{\"file\":\"a.csv\"}}|2026-03-09T23:55:00Z|2026-03-09",
            e(9),
            s(1)
        ),
        format!(
            "{}|error|error|Error|alice|{}|Core|NULL|true|NULL|2026-03-10T00:01:00Z|2026-03-10",
            e(10),
            s(1)
        ),
        format!(
            "{}|Chem:descriptors|function-package|Descriptors|alice|{}|Chem|500.0|false|{{\"molecules\":\"C\"}}|2026-03-10T00:05:00Z|2026-03-10",
            e(11),
            s(1)
        ),
        format!(
            "{}|sum|function|Sum|alice|{}|Core|100.0|true|{{\"x\":\"0\"}}|2026-03-10T00:06:00Z|2026-03-10",
            e(12),
            s(1)
        ),
        // The package of the entity parameter's entity.
        format!(
            "{}|add-viewer|audit|Add viewer|carol|{}|Chem|NULL|false|{{\"entity\":\"{MOLECULE}\"}}|2026-03-10T12:00:00Z|2026-03-10",
            e(13),
            s(4)
        ),
        format!(
            "{}|http-request|info|HTTP request|carol|{}|Core|20.0|false|{{\"method\":\"GET\",\"ms\":\"20\",\"route\":\"/api/a\",\"status\":\"200\"}}|2026-03-10T12:01:00Z|2026-03-10",
            e(14),
            s(4)
        ),
        format!(
            "{}|http-request|info|HTTP request|carol|{}|Core|5.0|false|{{\"method\":\"POST\",\"ms\":\"5\",\"route\":\"/api/b\",\"status\":\"404\"}}|2026-03-10T12:02:00Z|2026-03-10",
            e(15),
            s(4)
        ),
        format!(
            "{}|Chem:descriptors|function-package|Descriptors|carol|{}|Chem|2500.0|false|{{\"molecules\":\"N\"}}|2026-03-10T12:03:00Z|2026-03-10",
            e(16),
            s(4)
        ),
        format!(
            "{}|open-file|usage|Open file|carol|{}|Core|NULL|false|{{\"file\":\"late.csv\"}}|2026-03-11T08:00:00Z|2026-03-11",
            e(18),
            s(4)
        ),
    ];
    assert_eq!(events, expected.join("\n") + "\n");

    // The error in alice's session just after midnight follows her
    // open-file of the day before (another partition, found on the server).
    let errors = render(
        &lake,
        "SELECT event_id, user_login, package, error_message, signature, event_time, \
         preceding_event_type FROM platform_errors ORDER BY event_time",
    )
    .await;
    let expected = [
        format!(
            "{}|bob|Core|boom old|sigA|2026-03-06T10:05:00Z|open-file",
            e(3)
        ),
        format!(
            "{}|bob|Core|boom|sigA|2026-03-08T11:10:00Z|Chem:descriptors",
            e(8)
        ),
        format!(
            "{}|alice|Core|boom 2|sigA|2026-03-10T00:01:00Z|open-file",
            e(10)
        ),
        format!(
            "{}|alice|Core|division by zero|sigS|2026-03-10T00:06:00Z|Chem:descriptors",
            e(12)
        ),
    ];
    assert_eq!(errors, expected.join("\n") + "\n");

    let users = render(
        &lake,
        "SELECT login, friendly_name, joined, groups FROM platform_users ORDER BY login",
    )
    .await;
    assert_eq!(
        users,
        "alice|Alice A|2026-03-09T10:00:00Z|[All users, Chemists, MedChem, alice]\n\
         bob|Bob B|2026-03-06T08:00:00Z|[All users, Chemists, bob]\n\
         carol|Carol C|2026-01-01T08:00:00Z|[All users, carol]\n\
         dave|Dave D|2026-03-08T07:00:00Z|[dave]\n"
    );

    // Again: the overlap (2 h before the watermark) re-reads the last day,
    // finds nothing new and writes nothing.
    let snapshot = lake_files(&lake);
    let second = collect(&lake, &source(&fixture.url), CollectRange::Incremental)
        .await
        .unwrap();
    assert_eq!(
        second.read_from.unwrap().to_rfc3339(),
        "2026-03-11T06:00:00+00:00"
    );
    assert_eq!(second.days, [day("2026-03-11")]);
    assert_eq!(
        (
            second.events_read,
            second.rows_upserted,
            second.partitions_written
        ),
        (1, 0, 0)
    );
    assert_eq!(lake_files(&lake), snapshot);

    // A late event (inside the overlap) and a new one.
    fixture.pg.psql(
        "platform",
        PASSWORD,
        "datagrok",
        &insert_events(&[
            (19, 1, 4, "2026-03-11 07:30:00", None, false, None, &[]),
            (20, 1, 4, "2026-03-11 09:00:00", None, false, None, &[]),
        ]),
    );
    let third = collect(&lake, &source(&fixture.url), CollectRange::Incremental)
        .await
        .unwrap();
    assert_eq!(
        (
            third.events_read,
            third.rows_upserted,
            third.partitions_written
        ),
        (3, 2, 1)
    );
    assert_eq!(
        render(
            &lake,
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM platform_events"
        )
        .await,
        "19|19\n"
    );
}

/// Every file of the lake's tables with its content, to show a run wrote nothing.
fn lake_files(lake: &Lake) -> Vec<(String, Vec<u8>)> {
    let usagelake::lake::LakeLocation::Local(root) = lake.location() else {
        unreachable!("a local test lake")
    };
    let root = root.join("tables");
    crate::support::files_under(&root)
        .into_iter()
        .filter(|f| !f.starts_with("platform_users"))
        .map(|f| {
            let bytes = std::fs::read(root.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

#[tokio::test]
async fn recollecting_a_day_gives_the_same_rows_and_follows_the_store() {
    let fixture = store_with_history();
    let (_dir, lake) = temp_lake();
    collect(&lake, &source(&fixture.url), CollectRange::Incremental)
        .await
        .unwrap();
    let count =
        "SELECT \"date\", COUNT(*) FROM platform_events GROUP BY \"date\" ORDER BY \"date\"";
    let before = render(&lake, count).await;
    assert_eq!(
        before,
        "2026-03-01|1\n2026-03-06|2\n2026-03-08|5\n2026-03-09|1\n2026-03-10|7\n2026-03-11|1\n"
    );
    let again = collect(
        &lake,
        &source(&fixture.url),
        CollectRange::Day(day("2026-03-10")),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            again.events_read,
            again.errors_read,
            again.rows_upserted,
            again.rows_removed
        ),
        (7, 2, 0, 0)
    );
    assert_eq!(
        again.watermark.unwrap().to_rfc3339(),
        "2026-03-11T08:00:00+00:00"
    );
    assert_eq!(render(&lake, count).await, before);

    // The store changes that day: a request is deleted, a function call
    // finishes later than first logged. The day's partition follows.
    fixture.pg.psql(
        "platform",
        PASSWORD,
        "datagrok",
        &format!(
            "DELETE FROM event_parameter_values WHERE event_id = '{0}';\n\
             DELETE FROM events WHERE id = '{0}';\n\
             UPDATE events SET event_time_finished = '2026-03-10 12:03:04' WHERE id = '{1}';",
            e(15),
            e(16)
        ),
    );
    let changed = collect(
        &lake,
        &source(&fixture.url),
        CollectRange::Day(day("2026-03-10")),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            changed.events_read,
            changed.rows_upserted,
            changed.rows_removed
        ),
        (6, 1, 1)
    );
    assert_eq!(
        render(
            &lake,
            &format!(
                "SELECT COUNT(*), SUM(CASE WHEN event_id = '{}' THEN duration_ms END) FROM platform_events WHERE \"date\" = DATE '2026-03-10'",
                e(16)
            )
        )
        .await,
        "6|4000.0\n"
    );
    let unchanged = collect(
        &lake,
        &source(&fixture.url),
        CollectRange::Day(day("2026-03-10")),
    )
    .await
    .unwrap();
    assert_eq!(
        (unchanged.rows_upserted, unchanged.partitions_written),
        (0, 0)
    );
}

async fn derive_with(lake: &Lake, params: &[(&str, toml::Value)]) {
    let mut map = Params::new();
    map.insert("window_days".into(), toml::Value::Integer(3));
    for (k, v) in params {
        map.insert(k.to_string(), v.clone());
    }
    let params = PlatformParams::from_params(&map, day("2026-03-10")).unwrap();
    derive(lake, &params).await.unwrap();
}

fn names(list: &[&str]) -> toml::Value {
    toml::Value::Array(
        list.iter()
            .map(|s| toml::Value::String(s.to_string()))
            .collect(),
    )
}

/// As of 2026-03-10 with a 3-day window: [03-08, 03-10]; the window
/// before it is [03-05, 03-07]. In the window: dave's two requests and a
/// sum call on 03-08, bob's descriptors call and error that day; alice's
/// open-file on 03-09, her error, descriptors call and failed sum on
/// 03-10; carol's viewer, two requests and descriptors call on 03-10.
/// Before it: bob's open-file and error on 03-06.
#[tokio::test]
async fn derives_the_platform_analyses_with_filters() {
    let fixture = store_with_history();
    let (_dir, lake) = temp_lake();
    collect(&lake, &source(&fixture.url), CollectRange::Incremental)
        .await
        .unwrap();
    derive_with(&lake, &[]).await;

    assert_eq!(
        render(
            &lake,
            "SELECT day, users FROM platform_active_users ORDER BY day"
        )
        .await,
        "2026-03-08|2\n2026-03-09|1\n2026-03-10|2\n"
    );
    // Core: dave 3, bob's error, alice's open-file, error and sum, carol's
    // 2 requests = 9 events of 4 users. Chem: bob's and alice's and
    // carol's descriptors calls, carol's viewer = 4 events of 3 users.
    assert_eq!(
        render(
            &lake,
            "SELECT package, users, events FROM platform_package_usage ORDER BY package"
        )
        .await,
        "Chem|3|4\nCore|4|9\n"
    );
    // Durations: descriptors 1500, 500, 2500 → p50 1500, p95 at rank
    // 0.95·2 = 1.9 → 1500 + 0.9·1000 = 2400; sum 250, 100 → p50 175,
    // p95 100 + 0.95·150 = 242.5.
    assert_eq!(
        render(
            &lake,
            "SELECT \"function\", package, calls, users, p50_ms, p95_ms, max_ms \
             FROM platform_function_usage ORDER BY \"function\""
        )
        .await,
        "Chem:descriptors|Chem|3|3|1500.0|2400.0|2500.0\nsum|Core|2|2|175.0|242.5|250.0\n"
    );
    assert_eq!(
        render(
            &lake,
            "SELECT day, source, events FROM platform_event_sources ORDER BY day, source"
        )
        .await,
        "2026-03-08|error|1\n2026-03-08|function|1\n2026-03-08|function-package|1\n2026-03-08|info|2\n\
         2026-03-09|usage|1\n\
         2026-03-10|audit|1\n2026-03-10|error|1\n2026-03-10|function|1\n2026-03-10|function-package|2\n2026-03-10|info|2\n"
    );
    assert_eq!(
        render(
            &lake,
            "SELECT signature, message, errors, users, first_seen, last_seen \
             FROM platform_error_signatures ORDER BY signature"
        )
        .await,
        "sigA|boom 2|2|2|2026-03-08T11:10:00Z|2026-03-10T00:01:00Z\n\
         sigS|division by zero|1|1|2026-03-10T00:06:00Z|2026-03-10T00:06:00Z\n"
    );
    // /api/a: 10, 30, 20 ms (one 500) → sorted 10, 20, 30: p50 20, p95 at
    // rank 1.9 → 29, p99 at 1.98 → 29.8. /api/b: one 404 of 5 ms.
    assert_eq!(
        render(
            &lake,
            "SELECT route, requests, errors, p50_ms, p95_ms, p99_ms \
             FROM platform_request_latency ORDER BY route"
        )
        .await,
        "/api/a|3|1|20.0|29.0|29.8\n/api/b|1|1|5.0|5.0|5.0\n"
    );
    // Users: dave, bob, alice, carol now; bob before. New: alice (03-09)
    // and dave (03-08) now, bob (03-06) before. Sessions: dave's, bob's
    // second, alice's, carol's now; bob's first before.
    assert_eq!(
        render(
            &lake,
            "SELECT metric, \"current\", previous FROM platform_cards ORDER BY metric"
        )
        .await,
        "active_users|4|1\nerrors|3|1\nnew_users|2|1\nsessions|4|1\n"
    );

    // Group Chemists: alice (through MedChem) and bob.
    derive_with(&lake, &[("groups", names(&["Chemists"]))]).await;
    assert_eq!(
        render(
            &lake,
            "SELECT day, users FROM platform_active_users ORDER BY day"
        )
        .await,
        "2026-03-08|1\n2026-03-09|1\n2026-03-10|1\n"
    );
    assert_eq!(
        render(
            &lake,
            "SELECT package, users, events FROM platform_package_usage ORDER BY package"
        )
        .await,
        "Chem|2|2\nCore|2|4\n"
    );
    assert_eq!(
        render(
            &lake,
            "SELECT metric, \"current\", previous FROM platform_cards ORDER BY metric"
        )
        .await,
        "active_users|2|1\nerrors|3|1\nnew_users|1|1\nsessions|2|1\n"
    );

    // Package Chem: bob's call on 03-08, alice's call and carol's viewer
    // and call on 03-10.
    derive_with(&lake, &[("packages", names(&["Chem"]))]).await;
    assert_eq!(
        render(
            &lake,
            "SELECT day, users FROM platform_active_users ORDER BY day"
        )
        .await,
        "2026-03-08|1\n2026-03-09|0\n2026-03-10|2\n"
    );
    assert_eq!(
        render(
            &lake,
            "SELECT \"function\", calls FROM platform_function_usage"
        )
        .await,
        "Chem:descriptors|3\n"
    );
    assert_eq!(
        render(&lake, "SELECT COUNT(*) FROM platform_error_signatures").await,
        "0\n"
    );
}

#[tokio::test]
async fn connection_errors_name_the_store_but_never_the_password() {
    let fixture = store_with_history();
    let (_dir, lake) = temp_lake();
    let mut wrong = source(&fixture.url);
    wrong.password = Some(Secret::new("not-the-password-x1"));
    let err = collect(&lake, &wrong, CollectRange::Incremental)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EventStoreError::Connect { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "platform@127.0.0.1:{}/datagrok",
            fixture.pg.port()
        )) && text.contains("password authentication failed"),
        "{text}"
    );
    assert!(!text.contains("not-the-password-x1"), "{text}");

    // The password inside the URL is never shown either; this server has
    // no TLS, so sslmode=require fails.
    let url = format!(
        "postgres://platform:{PASSWORD}@127.0.0.1:{}/datagrok?sslmode=require",
        fixture.pg.port()
    );
    let err = collect(
        &lake,
        &EventStoreSource::new(CONNECTOR, url),
        CollectRange::Incremental,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains(CONNECTOR), "{text}");

    let err = collect(
        &lake,
        &EventStoreSource::new(CONNECTOR, "mysql://x@y/z"),
        CollectRange::Incremental,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EventStoreError::BadUrl { .. }), "{err}");
    // Nothing was collected, so no watermark was written.
    assert_eq!(
        render(&lake, "SELECT COUNT(*) FROM platform_events").await,
        "0\n"
    );
}

/// docs/platform.md is the column contract of every platform table, raw
/// and derived.
#[test]
fn docs_list_every_column_of_every_platform_table() {
    use datafusion::arrow::datatypes::DataType;
    use usagelake::lake::{TableContract, tables};
    let docs = std::fs::read_to_string(format!("{}/docs/platform.md", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let raw: Vec<&dyn TableContract> = vec![
        &tables::PLATFORM_EVENTS,
        &tables::PLATFORM_ERRORS,
        &tables::PLATFORM_USERS,
    ];
    let derived = usagelake::platform::shipped_outputs();
    let mut missing = Vec::new();
    for table in raw
        .into_iter()
        .chain(derived.iter().map(|t| t as &dyn TableContract))
    {
        let Some(section) = docs
            .split(&format!("### {}\n", table.name()))
            .nth(1)
            .map(|rest| rest.split("\n### ").next().unwrap())
        else {
            missing.push(format!("section ### {}", table.name()));
            continue;
        };
        for field in table.file_schema().fields() {
            let ty = match field.data_type() {
                DataType::Utf8 => "STRING",
                DataType::Int64 => "BIGINT",
                DataType::Float64 => "DOUBLE",
                DataType::Boolean => "BOOLEAN",
                DataType::Date32 => "DATE",
                DataType::Timestamp(..) => "TIMESTAMP",
                DataType::List(_) => "LIST<STRING>",
                other => panic!("{}: no doc type for {other}", table.name()),
            };
            let row = format!("| `{}` | {ty} |", field.name());
            if !section.contains(&row) {
                missing.push(format!("{}: {row}", table.name()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/platform.md lacks:\n{}",
        missing.join("\n")
    );
}

/// The binary end to end: `usagelake collect` with the password from the
/// environment, one sync_jobs row per attempt (a failed one too), and the
/// shipped `platform` job collecting and deriving in one run.
#[test]
fn collect_command_and_platform_job() {
    let fixture = store_with_history();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/usagelake.toml"),
        format!(
            "[[connectors]]\nid = \"{CONNECTOR}\"\nname = \"datagrok\"\ntype = \"event_store\"\n\
             url = \"{}\"\npassword = \"${{STORE_PASSWORD}}\"\nsensitive_parameters = [\"token\"]\n\n\
             [[connectors]]\nid = \"6a1b2c3d-0000-4000-8000-000000000002\"\nname = \"down\"\n\
             type = \"event_store\"\nurl = \"postgres://platform@127.0.0.1:1/datagrok\"\n",
            fixture.url
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir.path())
            .env("STORE_PASSWORD", PASSWORD)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let validate = run(&["validate"]);
    ok(&validate);

    let out = run(&["collect", "datagrok"]);
    ok(&out);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["rows_upserted"], 21);
    assert_eq!(printed["sync_job"]["kind"], "event_collection");
    assert_eq!(printed["report"]["events_read"], 17);

    let failed = run(&["collect", "down"]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.starts_with("error: event store 6a1b2c3d-0000-4000-8000-000000000002 (platform@127.0.0.1:1/datagrok): cannot connect"),
        "{stderr}"
    );

    // The job: collect (nothing new) and derive as of 2026-03-10.
    let job = run(&[
        "run",
        "platform",
        "--date",
        "2026-03-10",
        "--set",
        "connector=datagrok",
        "--set",
        "window_days=3",
    ]);
    ok(&job);
    let query = |sql: &str| {
        let out = run(&["query", sql, "--format", "csv"]);
        ok(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        query(
            "SELECT kind, status, rows_upserted, connector_id FROM sync_jobs ORDER BY started_at"
        ),
        format!(
            "kind,status,rows_upserted,connector_id\n\
             event_collection,succeeded,21,{CONNECTOR}\n\
             event_collection,failed,0,6a1b2c3d-0000-4000-8000-000000000002\n\
             event_collection,succeeded,0,{CONNECTOR}\n"
        )
    );
    assert_eq!(
        query(
            "SELECT metric, \"current\", previous FROM platform_cards WHERE as_of = DATE '2026-03-10' ORDER BY metric"
        ),
        "metric,current,previous\nactive_users,4,1\nerrors,3,1\nnew_users,2,1\nsessions,4,1\n"
    );
    // No secret anywhere in the lake.
    for file in crate::support::files_under(&dir.path().join("lake")) {
        let bytes = std::fs::read(dir.path().join("lake").join(&file)).unwrap();
        for needle in [PASSWORD, "s3cret-token"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in {file}"
            );
        }
    }

    let missing = run(&["run", "platform", "--date", "2026-03-10"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("run with --set connector=NAME"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
