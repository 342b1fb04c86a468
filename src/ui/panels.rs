//! The page's tabs and their panels: each panel is one SQL query over the
//! metric tables (or the per-day intermediates for series and
//! distributions), with every filter value bound as a placeholder.
//!
//! Placeholders: `$as_of`, `$from`, `$to` (DATE), `$domain`, `$role`,
//! `$license`, `$group`, `$package` ('' = any), and for a drilldown `$x`,
//! `$y` (text the page took from the clicked point's row).

/// Which job fills a table, for the note a panel shows instead of an
/// empty chart.
pub fn filled_by(table: &str) -> &'static str {
    match table {
        "bi_queries" => {
            "BI collectors: `usagelake sync CONNECTOR` (saved queries, charts, dashboards) or `usagelake mine CONNECTOR` (warehouse query logs), or a job with bi_sync / mine_logs steps"
        }
        "product_usage_stats" => {
            "an `aggregate` step (or POST /spaces/{slug}/usage/aggregate) for a [[spaces]] entry, after the BI collectors"
        }
        t if t.starts_with("platform_") => {
            "a job with a `collect_events` step for an `event_store` connector"
        }
        "pages" | "tracks" | "users" => "the daily job's ingest step: `usagelake run daily`",
        _ => "the metrics job: `usagelake run metrics --date D` (or `usagelake backfill metrics`)",
    }
}

pub struct Tab {
    pub id: &'static str,
    pub title: &'static str,
    pub panels: &'static [Panel],
}

pub struct Panel {
    pub id: &'static str,
    pub title: &'static str,
    /// Tables the query reads; a missing or empty one turns the panel into
    /// a note naming the job that fills it.
    pub needs: &'static [&'static str],
    pub sql: &'static str,
    /// The rows behind a point: `$x` (and `$y`) name it.
    pub drill: Option<&'static str>,
    /// The columns of a panel row that give a point's `$x` (and `$y`), as
    /// the page takes them from the clicked point; the exported report
    /// runs the drilldown of every row with them.
    pub point: &'static [&'static str],
}

/// A user-level table aliased `d` joined to the as-of roster, so role and
/// license filters reach it.
const WHO: &str = "LEFT JOIN user_roster r ON r.as_of = $as_of::DATE AND r.customer_domain = d.customer_domain AND r.user_id = d.user_id";
const WHO_WHERE: &str = "($domain = '' OR d.customer_domain = $domain) AND ($role = '' OR r.role = $role) AND ($license = '' OR r.license_type = $license)";
/// The same filters on the roster itself (aliased `d`).
const ROSTER_WHERE: &str = "d.as_of = $as_of::DATE AND ($domain = '' OR d.customer_domain = $domain) AND ($role = '' OR d.role = $role) AND ($license = '' OR d.license_type = $license)";

/// The panel's SQL with the roster fragments in place (constant text only:
/// filter values stay placeholders).
pub fn expand(sql: &str) -> String {
    sql.replace("{who}", WHO)
        .replace("{who_where}", WHO_WHERE)
        .replace("{roster_where}", ROSTER_WHERE)
}

pub static TABS: &[Tab] = &[
    Tab {
        id: "overview",
        title: "Overview",
        panels: &[
            Panel {
                id: "kpis",
                title: "Active users on the as-of date",
                needs: &["dau", "wau", "mau"],
                sql: "SELECT \
                    (SELECT sum(dau) FROM dau WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain)) AS dau, \
                    (SELECT sum(wau) FROM wau WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain)) AS wau, \
                    (SELECT sum(mau) FROM mau WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain)) AS mau, \
                    (SELECT sum(prev_mau) FROM mau WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain)) AS prev_mau",
                drill: None,
                point: &[],
            },
            Panel {
                id: "active_series",
                title: "DAU / WAU / MAU over time (rolling 1, 7 and 30 days)",
                needs: &["user_day"],
                sql: "WITH days AS ( \
                        SELECT DISTINCT \"date\" AS day FROM user_day \
                        WHERE \"date\" BETWEEN $from::DATE AND $to::DATE \
                    ), act AS ( \
                        SELECT d.\"date\", d.customer_domain || '/' || d.user_id AS who \
                        FROM user_day d {who} \
                        WHERE {who_where} AND d.\"date\" > $from::DATE - 30 AND d.\"date\" <= $to::DATE \
                    ) \
                    SELECT days.day AS \"date\", \
                        count(DISTINCT CASE WHEN act.\"date\" = days.day THEN act.who END) AS dau, \
                        count(DISTINCT CASE WHEN act.\"date\" > days.day - 7 THEN act.who END) AS wau, \
                        count(DISTINCT act.who) AS mau \
                    FROM days JOIN act ON act.\"date\" > days.day - 30 AND act.\"date\" <= days.day \
                    GROUP BY days.day ORDER BY days.day",
                drill: Some(
                    "SELECT d.customer_domain, d.user_id, r.email, r.username, r.role, r.license_type, d.events, d.sessions \
                    FROM user_day d {who} \
                    WHERE {who_where} AND d.\"date\" = $x::DATE \
                    ORDER BY d.events DESC, d.customer_domain, d.user_id",
                ),
                point: &["date"],
            },
            Panel {
                id: "stickiness",
                title: "Stickiness per customer domain (avg DAU / MAU) and band",
                needs: &["stickiness"],
                sql: "SELECT customer_domain, stickiness, band, mau, avg_dau FROM stickiness \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    ORDER BY stickiness DESC, customer_domain",
                drill: None,
                point: &[],
            },
            Panel {
                id: "roster_status",
                title: "Users by status (roster)",
                needs: &["user_roster"],
                sql: "SELECT d.customer_domain, d.status, count(*) AS users \
                    FROM user_roster d WHERE {roster_where} \
                    GROUP BY d.customer_domain, d.status ORDER BY d.customer_domain, d.status",
                drill: Some(
                    "SELECT d.customer_domain, d.user_id, d.email, d.username, d.role, d.license_type, d.last_active_date, d.events_30d \
                    FROM user_roster d WHERE {roster_where} AND d.customer_domain = $x AND d.status = $y \
                    ORDER BY d.events_30d DESC, d.user_id",
                ),
                point: &["customer_domain", "status"],
            },
        ],
    },
    Tab {
        id: "features",
        title: "Features",
        panels: &[
            Panel {
                id: "adoption_matrix",
                title: "Feature adoption: share of the window's active users (domain × area)",
                needs: &["feature_adoption_matrix"],
                sql: "SELECT d.customer_domain, d.feature_area, \
                        sum(CASE WHEN d.used THEN 1 ELSE 0 END) AS users, count(*) AS active_users, \
                        CAST(sum(CASE WHEN d.used THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS share \
                    FROM feature_adoption_matrix d {who} \
                    WHERE d.as_of = $as_of::DATE AND {who_where} \
                    GROUP BY d.customer_domain, d.feature_area ORDER BY d.customer_domain, d.feature_area",
                drill: Some(
                    "SELECT d.customer_domain, d.user_id, r.email, r.username, r.role, r.license_type, d.events, d.active_days \
                    FROM feature_adoption_matrix d {who} \
                    WHERE d.as_of = $as_of::DATE AND {who_where} AND d.customer_domain = $x AND d.feature_area = $y AND d.used \
                    ORDER BY d.events DESC, d.user_id",
                ),
                point: &["customer_domain", "feature_area"],
            },
            Panel {
                id: "feature_trends",
                title: "Weekly trend: users per area, last 7 days against the 7 before",
                needs: &["feature_trends_weekly"],
                sql: "SELECT feature_area, sum(users_7d) AS users_7d, sum(users_prev_7d) AS users_prev_7d, \
                        sum(events_7d) AS events_7d \
                    FROM feature_trends_weekly \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    GROUP BY feature_area ORDER BY users_7d DESC, feature_area",
                drill: None,
                point: &[],
            },
            Panel {
                id: "top_events",
                title: "Top events in the window",
                needs: &["top_events"],
                sql: "SELECT event_name, sum(event_count) AS events, sum(unique_users) AS users \
                    FROM top_events \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    GROUP BY event_name ORDER BY events DESC, event_name LIMIT 15",
                drill: None,
                point: &[],
            },
            Panel {
                id: "top_pages",
                title: "Top pages in the window",
                needs: &["top_pages"],
                sql: "SELECT page_name || COALESCE(' / ' || tab, '') AS page, sum(page_views) AS views, sum(unique_users) AS users \
                    FROM top_pages \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    GROUP BY page_name || COALESCE(' / ' || tab, '') ORDER BY views DESC, page LIMIT 15",
                drill: None,
                point: &[],
            },
            Panel {
                id: "connector_usage",
                title: "Connector usage in the window",
                needs: &["connector_usage"],
                sql: "SELECT connector_name, sum(interactions) AS interactions, sum(unique_users) AS users \
                    FROM connector_usage \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    GROUP BY connector_name ORDER BY interactions DESC, connector_name",
                drill: None,
                point: &[],
            },
        ],
    },
    Tab {
        id: "engagement",
        title: "Engagement",
        panels: &[
            Panel {
                id: "session_histogram",
                title: "Session duration distribution (sessions in the date range)",
                needs: &["user_sessions"],
                sql: "SELECT bucket, min(lo) AS lo, count(*) AS sessions FROM ( \
                        SELECT CASE WHEN d.duration_s = 0 THEN '0 s (one event)' \
                            WHEN d.duration_s < 60 THEN '< 1 min' \
                            WHEN d.duration_s < 300 THEN '1-5 min' \
                            WHEN d.duration_s < 900 THEN '5-15 min' \
                            WHEN d.duration_s < 1800 THEN '15-30 min' \
                            WHEN d.duration_s < 3600 THEN '30-60 min' ELSE '≥ 1 h' END AS bucket, \
                        CASE WHEN d.duration_s = 0 THEN 0 WHEN d.duration_s < 60 THEN 1 WHEN d.duration_s < 300 THEN 2 \
                            WHEN d.duration_s < 900 THEN 3 WHEN d.duration_s < 1800 THEN 4 WHEN d.duration_s < 3600 THEN 5 ELSE 6 END AS lo \
                        FROM user_sessions d {who} \
                        WHERE {who_where} AND d.\"date\" BETWEEN $from::DATE AND $to::DATE \
                    ) b GROUP BY bucket ORDER BY lo",
                drill: None,
                point: &[],
            },
            Panel {
                id: "actions_histogram",
                title: "Events per session distribution (sessions in the date range)",
                needs: &["user_sessions"],
                sql: "SELECT bucket, min(lo) AS lo, count(*) AS sessions FROM ( \
                        SELECT CASE WHEN d.events = 1 THEN '1' WHEN d.events <= 3 THEN '2-3' \
                            WHEN d.events <= 7 THEN '4-7' WHEN d.events <= 15 THEN '8-15' \
                            WHEN d.events <= 31 THEN '16-31' ELSE '32+' END AS bucket, \
                        CASE WHEN d.events = 1 THEN 0 WHEN d.events <= 3 THEN 1 WHEN d.events <= 7 THEN 2 \
                            WHEN d.events <= 15 THEN 3 WHEN d.events <= 31 THEN 4 ELSE 5 END AS lo \
                        FROM user_sessions d {who} \
                        WHERE {who_where} AND d.\"date\" BETWEEN $from::DATE AND $to::DATE \
                    ) b GROUP BY bucket ORDER BY lo",
                drill: None,
                point: &[],
            },
            Panel {
                id: "session_duration",
                title: "Session length per domain in the window (seconds)",
                needs: &["session_duration"],
                sql: "SELECT s.customer_domain, s.median_duration_s, s.avg_duration_s, s.p90_duration_s, a.median_events_per_session \
                    FROM session_duration s LEFT JOIN actions_per_session a ON a.as_of = s.as_of AND a.customer_domain = s.customer_domain \
                    WHERE s.as_of = $as_of::DATE AND ($domain = '' OR s.customer_domain = $domain) \
                    ORDER BY s.customer_domain",
                drill: None,
                point: &[],
            },
            Panel {
                id: "engagement_tiers",
                title: "Engagement tiers (users)",
                needs: &["engagement_tiers"],
                sql: "SELECT customer_domain, tier, user_count, events FROM engagement_tiers \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    ORDER BY customer_domain, tier",
                drill: None,
                point: &[],
            },
            Panel {
                id: "power_users",
                title: "Power users",
                needs: &["power_users"],
                sql: "SELECT d.customer_domain, d.rank, d.user_id, d.email, d.role, d.total_events, d.active_days, d.feature_breadth, d.power_score \
                    FROM power_users d {who} \
                    WHERE d.as_of = $as_of::DATE AND {who_where} \
                    ORDER BY d.power_score DESC, d.customer_domain, d.rank LIMIT 50",
                drill: None,
                point: &[],
            },
        ],
    },
    Tab {
        id: "retention",
        title: "Retention",
        panels: &[
            Panel {
                id: "cohort_heatmap",
                title: "Monthly cohorts: share active in each later month",
                needs: &["monthly_cohort_retention"],
                sql: "SELECT cohort_month, months_since, activity_month, sum(cohort_size) AS cohort_size, \
                        sum(active_users) AS active_users, \
                        CAST(sum(active_users) AS DOUBLE) / sum(cohort_size) AS retention_rate \
                    FROM monthly_cohort_retention \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    GROUP BY cohort_month, months_since, activity_month ORDER BY cohort_month, months_since",
                drill: Some(
                    "SELECT DISTINCT d.customer_domain, d.user_id, d.email, d.username, d.role, d.license_type, d.first_active_date \
                    FROM user_roster d JOIN user_day a ON a.customer_domain = d.customer_domain AND a.user_id = d.user_id \
                    WHERE {roster_where} \
                      AND CAST(date_trunc('month', d.first_active_date) AS DATE) = $x::DATE \
                      AND CAST(date_trunc('month', a.\"date\") AS DATE) = $y::DATE AND a.\"date\" <= $as_of::DATE \
                    ORDER BY d.customer_domain, d.user_id",
                ),
                point: &["cohort_month", "activity_month"],
            },
            Panel {
                id: "day_n_curve",
                title: "Day-N retention (any activity)",
                needs: &["day_n_retention"],
                sql: "SELECT retention_type, day_n, sum(cohort_size) AS cohort_size, sum(retained_users) AS retained_users, \
                        CAST(sum(retained_users) AS DOUBLE) / sum(cohort_size) AS retention_rate \
                    FROM day_n_retention \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) AND return_signal = 'any' \
                    GROUP BY retention_type, day_n ORDER BY retention_type, day_n",
                drill: None,
                point: &[],
            },
            Panel {
                id: "activation",
                title: "Activation by signup month (first active within N days)",
                needs: &["activation_funnel"],
                sql: "SELECT signup_month, sum(new_users) AS new_users, sum(activated_1d) AS activated_1d, \
                        sum(activated_7d) AS activated_7d, sum(activated_30d) AS activated_30d, sum(never_activated) AS never_activated \
                    FROM activation_funnel \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    GROUP BY signup_month ORDER BY signup_month",
                drill: None,
                point: &[],
            },
            Panel {
                id: "funnel",
                title: "Funnel conversion",
                needs: &["funnel_analysis"],
                sql: "SELECT step_index, step_name, sum(users) AS users FROM funnel_analysis \
                    WHERE as_of = $as_of::DATE AND ($domain = '' OR customer_domain = $domain) \
                    GROUP BY step_index, step_name ORDER BY step_index",
                drill: None,
                point: &[],
            },
        ],
    },
    Tab {
        id: "data_products",
        title: "Data products",
        panels: &[
            Panel {
                id: "product_popularity",
                title: "Data product popularity (latest aggregation up to the as-of date)",
                needs: &["product_usage_stats"],
                sql: "SELECT space_id, product_id, query_count_30d, unique_users_30d, popularity_score \
                    FROM product_usage_stats \
                    WHERE as_of = (SELECT max(as_of) FROM product_usage_stats WHERE as_of <= $as_of::DATE) \
                    ORDER BY popularity_score DESC, product_id LIMIT 25",
                drill: None,
                point: &[],
            },
            Panel {
                id: "unused_products",
                title: "Unused data products (no query in 30 days) and coverage",
                needs: &["product_usage_stats"],
                sql: "SELECT space_id, product_id, query_count_30d, last_queried_at, \
                        (SELECT CAST(sum(CASE WHEN query_count_30d > 0 THEN 1 ELSE 0 END) AS DOUBLE) / count(*) FROM product_usage_stats \
                         WHERE as_of = (SELECT max(as_of) FROM product_usage_stats WHERE as_of <= $as_of::DATE)) AS coverage \
                    FROM product_usage_stats \
                    WHERE as_of = (SELECT max(as_of) FROM product_usage_stats WHERE as_of <= $as_of::DATE) AND query_count_30d = 0 \
                    ORDER BY space_id, product_id",
                drill: None,
                point: &[],
            },
            Panel {
                id: "query_patterns",
                title: "Popular query patterns (fingerprints, executions in the date range)",
                needs: &["bi_queries"],
                sql: "SELECT query_fingerprint, first_value(sql_text) AS sql_text, sum(execution_count) AS executions, \
                        count(DISTINCT executed_by) AS users \
                    FROM bi_queries WHERE \"date\" BETWEEN $from::DATE AND $to::DATE AND query_fingerprint IS NOT NULL \
                    GROUP BY query_fingerprint ORDER BY executions DESC, query_fingerprint LIMIT 15",
                drill: Some(
                    "SELECT executed_by, sum(execution_count) AS executions, max(executed_at) AS last_executed_at \
                    FROM bi_queries WHERE \"date\" BETWEEN $from::DATE AND $to::DATE AND query_fingerprint = $x \
                    GROUP BY executed_by ORDER BY executions DESC, executed_by",
                ),
                point: &["query_fingerprint"],
            },
            Panel {
                id: "table_rollup",
                title: "Tables read (executions in the date range)",
                needs: &["bi_queries"],
                sql: "SELECT table_name, sum(execution_count) AS executions FROM ( \
                        SELECT unnest(referenced_tables) AS table_name, execution_count FROM bi_queries \
                        WHERE \"date\" BETWEEN $from::DATE AND $to::DATE \
                    ) t GROUP BY table_name ORDER BY executions DESC, table_name LIMIT 20",
                drill: None,
                point: &[],
            },
            Panel {
                id: "database_rollup",
                title: "Databases queried (executions in the date range)",
                needs: &["bi_queries"],
                sql: "SELECT COALESCE(database, '(none)') AS database, sum(execution_count) AS executions, count(DISTINCT executed_by) AS users \
                    FROM bi_queries WHERE \"date\" BETWEEN $from::DATE AND $to::DATE \
                    GROUP BY COALESCE(database, '(none)') ORDER BY executions DESC, database LIMIT 20",
                drill: None,
                point: &[],
            },
        ],
    },
    Tab {
        id: "platform",
        title: "Platform",
        panels: &[
            Panel {
                id: "package_users",
                title: "Users per package (date range)",
                needs: &["platform_events", "platform_users"],
                sql: "SELECT package, count(DISTINCT user_login) AS users, count(*) AS events FROM platform_events \
                    WHERE \"date\" BETWEEN $from::DATE AND $to::DATE AND ($package = '' OR package = $package) \
                      AND ($group = '' OR user_login IN (SELECT login FROM platform_users WHERE array_has(groups, $group))) \
                    GROUP BY package ORDER BY users DESC, package LIMIT 25",
                drill: Some(
                    "SELECT user_login, count(*) AS events, max(event_time) AS last_event_at FROM platform_events \
                    WHERE \"date\" BETWEEN $from::DATE AND $to::DATE AND package = $x \
                      AND ($group = '' OR user_login IN (SELECT login FROM platform_users WHERE array_has(groups, $group))) \
                    GROUP BY user_login ORDER BY events DESC, user_login",
                ),
                point: &["package"],
            },
            Panel {
                id: "function_usage",
                title: "Function usage and durations (date range)",
                needs: &["platform_events", "platform_users"],
                sql: "SELECT COALESCE(friendly_name, event_type) AS function, count(*) AS calls, \
                        avg(duration_ms) AS avg_ms, max(duration_ms) AS max_ms FROM platform_events \
                    WHERE \"date\" BETWEEN $from::DATE AND $to::DATE AND duration_ms IS NOT NULL AND ($package = '' OR package = $package) \
                      AND ($group = '' OR user_login IN (SELECT login FROM platform_users WHERE array_has(groups, $group))) \
                    GROUP BY COALESCE(friendly_name, event_type) ORDER BY calls DESC, function LIMIT 20",
                drill: None,
                point: &[],
            },
            Panel {
                id: "errors",
                title: "Errors by signature (date range)",
                needs: &["platform_errors", "platform_users"],
                sql: "SELECT COALESCE(signature, '(none)') AS signature, count(*) AS errors, count(DISTINCT user_login) AS users \
                    FROM platform_errors \
                    WHERE \"date\" BETWEEN $from::DATE AND $to::DATE AND ($package = '' OR package = $package) \
                      AND ($group = '' OR user_login IN (SELECT login FROM platform_users WHERE array_has(groups, $group))) \
                    GROUP BY COALESCE(signature, '(none)') ORDER BY errors DESC, signature LIMIT 20",
                drill: None,
                point: &[],
            },
            Panel {
                id: "latency",
                title: "Request latency per day (ms)",
                needs: &["platform_events", "platform_users"],
                sql: "SELECT \"date\", median(duration_ms) AS median_ms, avg(duration_ms) AS avg_ms, max(duration_ms) AS max_ms \
                    FROM platform_events \
                    WHERE \"date\" BETWEEN $from::DATE AND $to::DATE AND duration_ms IS NOT NULL AND ($package = '' OR package = $package) \
                      AND ($group = '' OR user_login IN (SELECT login FROM platform_users WHERE array_has(groups, $group))) \
                    GROUP BY \"date\" ORDER BY \"date\"",
                drill: None,
                point: &[],
            },
        ],
    },
];

pub fn tab(id: &str) -> Option<&'static Tab> {
    TABS.iter().find(|t| t.id == id)
}

pub fn panel(id: &str) -> Option<&'static Panel> {
    TABS.iter().flat_map(|t| t.panels).find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_ids_are_unique_and_fragments_expand() {
        let mut ids: Vec<_> = TABS.iter().flat_map(|t| t.panels).map(|p| p.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        for p in TABS.iter().flat_map(|t| t.panels) {
            assert_eq!(p.drill.is_some(), !p.point.is_empty(), "{}", p.id);
            let sql = expand(p.sql) + &expand(p.drill.unwrap_or(""));
            assert!(
                !sql.contains("{who") && !sql.contains("{roster"),
                "{}",
                p.id
            );
        }
    }
}
