//! The identity snapshot (`identity.sql`) folded forward from the one an
//! earlier run kept, so a daily run reads the new `users` partitions, not
//! every identify since the start.
//!
//! `identity` as of D folds every `users` snapshot up to D: per user the
//! latest snapshot's columns (MAX over ties), the earliest created_at and
//! the first identify. A MAX / MIN fold gives the same result whether a
//! snapshot is folded once or twice, and ingest only ever adds rows to a
//! `users` partition (rows already in the lake win). So a run for D starts
//! from the snapshot kept as of D0 <= D (`_usagelake/derive/identity.parquet`,
//! same timezone) and reads only the partitions that can hold snapshots it
//! has not folded: from the first UTC day of local day D0 + 1, and any older
//! partition added or rewritten since (a late identify). Every partition is
//! read, as without a kept snapshot, when one it folded is gone or smaller
//! (rows may have been removed), the kept one is later than D or of another
//! timezone, on `--force`, and when a job's `sql_dir` replaces identity.sql.
//! The kept snapshot and the objects it folded are one object, written in
//! one put after the run computed it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::chunks::DayRange;
use super::kept;
use super::manifest::{InputObject, list, partition_date};
use super::{DeriveError, MetricParams};
use crate::lake::{Lake, LakeError, TableContract, tables};

const STATE: &str = "derive/identity.parquet";
/// The Parquet key-value entry holding [`KeptMeta`].
const META_KEY: &str = "usagelake.identity";
const VERSION: u32 = 1;

/// What the kept snapshot folded.
#[derive(Debug, Serialize, Deserialize)]
struct KeptMeta {
    version: u32,
    timezone: String,
    as_of: NaiveDate,
    /// The `users` objects of UTC days up to as_of + 1, as listed before
    /// the snapshot was computed.
    objects: Vec<InputObject>,
}

/// The columns `identity_base` has, whatever a kept file holds.
fn base_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields: Vec<Field> = [
        "user_id",
        "email",
        "username",
        "role",
        "license_type",
        "job_role",
        "customer_domain",
    ]
    .iter()
    .map(|name| Field::new(*name, DataType::Utf8, true))
    .collect();
    for name in ["created_at", "first_identified_at", "latest_at"] {
        fields.push(Field::new(name, ts(), true));
    }
    Arc::new(Schema::new(fields))
}

/// Which `users` partitions a run reads and what it folds them into.
pub struct IdentityPlan {
    /// The first UTC `date=` partition of `users` to read (`$identity_from`).
    pub from: NaiveDate,
    /// The kept snapshot (`identity_base`); empty when every partition is read.
    base: Vec<RecordBatch>,
    /// `users` objects of days up to as_of + 1, listed now.
    objects: Vec<InputObject>,
    /// Whether the result may be kept (the shipped identity.sql computed it).
    keep: bool,
}

impl IdentityPlan {
    /// Whether the run folds into a kept snapshot.
    pub fn folds(&self) -> bool {
        !self.base.is_empty()
    }

    /// Registers `identity_base` in `ctx`.
    pub fn register(&self, ctx: &SessionContext) -> datafusion::error::Result<()> {
        let table = MemTable::try_new(base_schema(), vec![self.base.clone()])?;
        ctx.deregister_table("identity_base")?;
        ctx.register_table("identity_base", Arc::new(table))?;
        Ok(())
    }

    /// Keeps `identity` as computed in `ctx` for the next run.
    pub async fn save(
        &self,
        lake: &Lake,
        ctx: &SessionContext,
        params: &MetricParams,
    ) -> Result<(), DeriveError> {
        if !self.keep {
            return Ok(());
        }
        let datafusion = |e| DeriveError::Lake(LakeError::DataFusion(e));
        let batches = ctx
            .table("identity")
            .await
            .map_err(datafusion)?
            .collect()
            .await
            .map_err(datafusion)?;
        let meta = KeptMeta {
            version: VERSION,
            timezone: params.timezone.name().to_string(),
            as_of: params.as_of,
            objects: self.objects.clone(),
        };
        kept::write(lake, STATE, META_KEY, &meta, &base_schema(), &batches).await
    }
}

/// Decides which `users` partitions `params.as_of`'s run reads.
pub async fn plan(
    lake: &Lake,
    params: &MetricParams,
    force: bool,
    shipped: bool,
) -> Result<IdentityPlan, DeriveError> {
    let as_of = params.as_of;
    let root = tables::USERS.root();
    let mut listed: Vec<(NaiveDate, InputObject)> = Vec::new();
    for meta in list(lake, &root).await? {
        if !meta.location.as_ref().ends_with(".parquet") {
            continue;
        }
        if let Some(day) = partition_date(meta.location.as_ref(), &root)
            && day <= as_of + chrono::Days::new(1)
        {
            listed.push((day, InputObject::from(&meta)));
        }
    }
    listed.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    let objects: Vec<InputObject> = listed.iter().map(|(_, o)| o.clone()).collect();
    let everything = |objects: Vec<InputObject>| IdentityPlan {
        from: NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date"),
        base: Vec::new(),
        objects,
        keep: shipped,
    };
    if force || !shipped {
        return Ok(everything(objects));
    }
    let Some((kept, base)) = kept::read::<KeptMeta>(lake, STATE, META_KEY, &base_schema()).await?
    else {
        return Ok(everything(objects));
    };
    if kept.version != VERSION || kept.timezone != params.timezone.name() || kept.as_of > as_of {
        return Ok(everything(objects));
    }
    let next = kept.as_of + chrono::Days::new(1);
    let mut from = DayRange {
        start: next,
        end: next,
    }
    .utc_days(params.timezone)
    .0;
    let now: HashMap<&str, &InputObject> = objects.iter().map(|o| (o.path.as_str(), o)).collect();
    for old in &kept.objects {
        match now.get(old.path.as_str()) {
            Some(new) if *new == old => {}
            Some(new) if new.size >= old.size => {
                if let Some(day) = partition_date(&old.path, &root) {
                    from = from.min(day);
                }
            }
            _ => return Ok(everything(objects)),
        }
    }
    let folded: std::collections::HashSet<&str> =
        kept.objects.iter().map(|o| o.path.as_str()).collect();
    for (day, object) in &listed {
        if !folded.contains(object.path.as_str()) {
            from = from.min(*day);
        }
    }
    Ok(IdentityPlan {
        from,
        base,
        objects,
        keep: true,
    })
}
