//! Metabase: every card (question or model) as a `chart` row and every
//! dashcard that shows one as a `dashboard_chart` row.
//!
//! A native card's SQL is its own text, in the legacy
//! (`dataset_query.native.query`) or the MBQL 5 (`stages`) shape, with its
//! `{{var}}` and `[[ … ]]` templates left to the SQL module. A GUI
//! question's SQL is what Metabase compiles it to (`POST
//! /api/dataset/native`); when Metabase will not compile it (4xx), the
//! card is kept without SQL and counted in the report.

mod api;

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::{BoxFuture, try_join_all};

use super::bi_queries::connector_dialect;
use super::collect::{
    BiRow, CollectContext, CollectError, Collected, Collector, ResourceType, RowScope, Slice,
};
use super::http::{
    Authenticator, Credential, HttpClient, HttpError, HttpSettings, StaticAuth, pages_by_number,
};
use crate::config::ConnectorConfig;
use crate::sql::SqlDialect;
use api::CardQuery;

const DEFAULT_PAGE_SIZE: usize = 50;

pub struct MetabaseCollector {
    client: HttpClient,
    page_size: usize,
    fallback_dialect: SqlDialect,
}

impl MetabaseCollector {
    pub fn new(connector: &ConnectorConfig) -> Result<Self, CollectError> {
        let auth: Arc<dyn Authenticator> = match (&connector.api_key, &connector.username) {
            (Some(key), _) => Arc::new(StaticAuth(Credential::Header {
                name: "x-api-key",
                value: key.clone(),
            })),
            (None, Some(username)) => {
                let Some(password) = &connector.password else {
                    return Err(CollectError::source(
                        connector,
                        "a metabase connector with username needs password (or use api_key)",
                    ));
                };
                Arc::new(api::SessionLogin {
                    username: username.clone(),
                    password: password.clone(),
                })
            }
            (None, None) => {
                return Err(CollectError::source(
                    connector,
                    "a metabase connector needs api_key, or username and password",
                ));
            }
        };
        let settings = HttpSettings::for_connector(connector, None)?;
        Ok(Self {
            client: HttpClient::new(settings, Some(auth))?,
            page_size: connector
                .page_size
                .map_or(DEFAULT_PAGE_SIZE, |n| n as usize),
            fallback_dialect: connector_dialect(connector),
        })
    }

    fn dialect_of(&self, engine: Option<&str>) -> SqlDialect {
        match engine.unwrap_or("") {
            "postgres" => SqlDialect::Postgres,
            "snowflake" => SqlDialect::Snowflake,
            "bigquery-cloud-sdk" | "bigquery" => SqlDialect::Bigquery,
            "mysql" => SqlDialect::Mysql,
            "redshift" => SqlDialect::Redshift,
            "databricks" | "sparksql" | "hive-like" => SqlDialect::Databricks,
            "sqlserver" => SqlDialect::Mssql,
            "" => self.fallback_dialect,
            _ => SqlDialect::Generic,
        }
    }

    /// A GUI question compiled by Metabase; `None` when it refuses (4xx).
    async fn compile(&self, query: &serde_json::Value) -> Result<Option<String>, HttpError> {
        let mut body = query.clone();
        if let Some(map) = body.as_object_mut() {
            map.insert("pretty".into(), false.into());
        }
        match self
            .client
            .post_json::<api::Compiled, _>("api/dataset/native", &body)
            .await
        {
            Ok(compiled) => Ok(compiled.query.filter(|q| !q.trim().is_empty())),
            Err(e)
                if e.status()
                    .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn scrape(&self, ctx: &CollectContext<'_>) -> Result<Collected, HttpError> {
        let databases: HashMap<i64, api::Database> = self
            .client
            .get_json::<api::MaybePaged<api::Database>>("api/database")
            .await?
            .into_parts()
            .0
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        // Metabase answers the whole list at once (no paging on /api/card).
        let cards: Vec<api::Card> = self
            .client
            .get_json::<Vec<api::Card>>("api/card?f=all")
            .await?
            .into_iter()
            .filter(|c| !c.archived)
            .collect();
        let compiled = try_join_all(cards.iter().map(|card| async move {
            match card.query() {
                CardQuery::Native(sql) => Ok((Some(sql), "native")),
                CardQuery::Structured(query) => Ok(match self.compile(&query).await? {
                    Some(sql) => (Some(sql), "compiled"),
                    None => (None, "not_compiled"),
                }),
                CardQuery::Nothing => Ok::<_, HttpError>((None, "none")),
            }
        }))
        .await?;
        let mut origins: std::collections::BTreeMap<&str, u64> = Default::default();
        let mut rows = Vec::new();
        let mut by_id: HashMap<i64, BiRow> = HashMap::new();
        for (card, (sql, origin)) in cards.iter().zip(compiled) {
            *origins.entry(origin).or_default() += 1;
            let database = card.database_id.and_then(|id| databases.get(&id));
            let row = BiRow {
                title: card.name.clone(),
                sql,
                dialect: Some(self.dialect_of(database.and_then(|d| d.engine.as_deref()))),
                database: database.and_then(|d| d.name.clone()),
                created_at: card.created_at,
                ..BiRow::new(ResourceType::Chart, card.id.to_string())
            };
            by_id.insert(card.id, row.clone());
            rows.push(row);
        }

        let page_size = self.page_size;
        let hits = pages_by_number(0, page_size, |page| async move {
            let offset = page as usize * page_size;
            let path = format!("api/search?models=dashboard&limit={page_size}&offset={offset}");
            let body: api::MaybePaged<api::SearchHit> = self.client.get_json(&path).await?;
            Ok::<_, HttpError>(body.into_parts())
        })
        .await?;
        let mut ids: Vec<i64> = hits.into_iter().map(|h| h.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let dashboards = try_join_all(ids.iter().map(|id| async move {
            self.client
                .get_json::<api::Dashboard>(&format!("api/dashboard/{id}"))
                .await
        }))
        .await?;
        let mut memberships = 0u64;
        for dashboard in &dashboards {
            let url = self
                .client
                .url(&format!("dashboard/{}", dashboard.id))
                .ok()
                .map(|u| u.to_string());
            let mut seen = std::collections::BTreeSet::new();
            for card_id in dashboard.dashcards.iter().filter_map(|d| d.card_id) {
                // A card shown twice on one dashboard is one membership.
                if !seen.insert(card_id) {
                    continue;
                }
                let base = by_id
                    .get(&card_id)
                    .cloned()
                    .unwrap_or_else(|| BiRow::new(ResourceType::Chart, card_id.to_string()));
                rows.push(BiRow {
                    resource_type: ResourceType::DashboardChart,
                    dashboard_id: Some(dashboard.id.to_string()),
                    dashboard_title: dashboard.name.clone(),
                    dashboard_url: url.clone(),
                    ..base
                });
                memberships += 1;
            }
        }
        let mut report = serde_json::Map::new();
        report.insert("cards".into(), cards.len().into());
        report.insert(
            "card_sql_from".into(),
            serde_json::to_value(&origins).unwrap_or_default(),
        );
        report.insert("dashboards".into(), dashboards.len().into());
        report.insert("dashboard_charts".into(), memberships.into());
        Ok(Collected {
            rows,
            slices: vec![Slice {
                date: ctx.date,
                scope: RowScope::Definitions,
            }],
            report,
            checkpoint: None,
        })
    }
}

impl Collector for MetabaseCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        Box::pin(async move { Ok(self.scrape(ctx).await?) })
    }
}
