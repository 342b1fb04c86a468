//! Tables and columns a parsed statement touches. Tables come from every
//! relation name in the statement (sqlparser's relation visitor), minus CTE
//! names and table-valued functions, with the targets of every write kept
//! apart: INSERT, UPDATE, DELETE (also inside a CTE), MERGE, CREATE,
//! SELECT … INTO, TRUNCATE, COPY … FROM, Snowflake's COPY INTO a table,
//! Databricks' OPTIMIZE. The container a SHOW lists (a schema, a
//! database) is not a table. Columns come from `columns`.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CopyIntoSnowflakeKind, CopySource, FromTable, ObjectName, ObjectNamePart, Query, SetExpr,
    Statement, TableFactor, TableObject, TableWithJoins, UpdateTableFromKind, Visit, Visitor,
};

use super::SqlDialect;
use super::columns::{Walker, object_name, unload_statements};
use super::schema::Schema;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct References {
    pub tables: Vec<String>,
    pub written_tables: Vec<String>,
    pub columns: Vec<String>,
}

/// What a statement (and every statement nested in it) does to tables
/// beyond what the relation visitor sees.
#[derive(Default)]
struct Targets {
    /// Tables written.
    written: Vec<String>,
    /// Relation names to take out of the reads, once each: a write target
    /// as the relation visitor saw it (being written is not being read),
    /// the alias an UPDATE / DELETE named its target by, a table-valued
    /// function called in FROM.
    not_read: Vec<String>,
    /// Tables read that the relation visitor does not see.
    read: Vec<String>,
}

/// One pass over the statement for everything but columns: the relations
/// it names, its CTE names and what it writes (each a full walk of the
/// tree when they were three visitors).
struct TargetVisitor<'t> {
    dialect: SqlDialect,
    targets: &'t mut Targets,
    /// Every relation name met, in order; none for a SHOW that lists a
    /// container.
    relations: Option<Vec<String>>,
    cte_names: Vec<String>,
}

impl TargetVisitor<'_> {
    fn name(&self, name: &ObjectName) -> String {
        object_name(name, self.dialect).join(".")
    }

    fn write(&mut self, name: String) {
        self.targets.not_read.push(name.clone());
        self.targets.written.push(name);
    }

    /// An UPDATE / DELETE target: a one-part name that is an alias of a
    /// table in the statement's FROM / USING is that table.
    fn write_through_alias(&mut self, target: &ObjectName, from: &[&TableWithJoins]) {
        let named = self.name(target);
        let aliased = match target.0.as_slice() {
            [ObjectNamePart::Identifier(alias)] => from
                .iter()
                .flat_map(|t| {
                    std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation))
                })
                .find_map(|f| match f {
                    TableFactor::Table {
                        name,
                        alias: Some(a),
                        ..
                    } if a.name.value.eq_ignore_ascii_case(&alias.value) => Some(self.name(name)),
                    _ => None,
                }),
            _ => None,
        };
        match aliased {
            Some(table) => {
                self.targets.not_read.push(named);
                self.write(table);
            }
            None => self.write(named),
        }
    }

    fn select_into(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(select) => {
                if let Some(into) = &select.into {
                    let name = self.name(&into.name);
                    self.write(name);
                }
            }
            SetExpr::SetOperation { left, .. } => self.select_into(left),
            _ => {}
        }
    }
}

impl Visitor for TargetVisitor<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        match statement {
            Statement::Insert(insert) => {
                if let TableObject::TableName(n) = &insert.table {
                    let name = self.name(n);
                    self.write(name);
                }
            }
            Statement::Update(update) => {
                if let TableFactor::Table { name, .. } = &update.table.relation {
                    let mut from = vec![&update.table];
                    if let Some(
                        UpdateTableFromKind::BeforeSet(tables)
                        | UpdateTableFromKind::AfterSet(tables),
                    ) = &update.from
                    {
                        from.extend(tables);
                    }
                    self.write_through_alias(name, &from);
                }
            }
            Statement::Delete(delete) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                if delete.tables.is_empty() {
                    for t in from {
                        if let TableFactor::Table { name, .. } = &t.relation {
                            let name = self.name(name);
                            self.write(name);
                        }
                    }
                } else {
                    let mut sources: Vec<&TableWithJoins> = from.iter().collect();
                    sources.extend(delete.using.iter().flatten());
                    for target in &delete.tables {
                        self.write_through_alias(target, &sources);
                    }
                }
            }
            Statement::CreateTable(create) => {
                let name = self.name(&create.name);
                self.write(name);
                if let Some(clone) = &create.clone {
                    let source = self.name(clone);
                    self.targets.read.push(source);
                }
            }
            Statement::CreateView(view) => {
                let name = self.name(&view.name);
                self.write(name);
            }
            Statement::Merge(merge) => {
                if let TableFactor::Table { name, .. } = &merge.table {
                    let name = self.name(name);
                    self.write(name);
                }
            }
            Statement::Truncate(truncate) => {
                for t in &truncate.table_names {
                    let name = self.name(&t.name);
                    self.write(name);
                }
            }
            // COPY t FROM … loads into t; COPY t TO … reads it.
            Statement::Copy {
                source: CopySource::Table { table_name, .. },
                to,
                ..
            } => {
                let name = self.name(table_name);
                if *to {
                    self.targets.read.push(name);
                } else {
                    self.write(name);
                }
            }
            Statement::CopyIntoSnowflake {
                kind,
                into,
                from_obj,
                ..
            } => match kind {
                CopyIntoSnowflakeKind::Table => {
                    let name = self.name(into);
                    self.write(name);
                }
                // Unloading a table (not a query) to a stage reads it.
                CopyIntoSnowflakeKind::Location => {
                    if let Some(from) = from_obj
                        && !from.to_string().starts_with('@')
                    {
                        let name = self.name(from);
                        self.targets.read.push(name);
                    }
                }
            },
            Statement::OptimizeTable { name, .. } => {
                let name = self.name(name);
                self.write(name);
            }
            // Redshift's UNLOAD ('query'): the query is a string; what it
            // reads is what the statement reads.
            Statement::Unload {
                query_text: Some(text),
                ..
            } => {
                for inner in &unload_statements(text, self.dialect) {
                    self.targets
                        .read
                        .extend(references(inner, self.dialect, &Schema::default()).tables);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.select_into(&query.body);
        if let Some(with) = &query.with {
            self.cte_names
                .extend(with.cte_tables.iter().map(|c| c.alias.name.value.clone()));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let dialect = self.dialect;
        if let Some(relations) = &mut self.relations {
            relations.push(object_name(relation, dialect).join("."));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        // `FROM generate_series(…)`, `CROSS APPLY sys.dm_exec_sql_text(…)`:
        // a function call, not a table.
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            let name = self.name(name);
            self.targets.not_read.push(name);
        }
        ControlFlow::Continue(())
    }
}

/// SHOW statements that list what a container (account, database, schema)
/// holds: the container they name is not a table.
fn lists_a_container(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowObjects(_)
            | Statement::ShowFunctions { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowCatalogs { .. }
    )
}

pub fn references(statement: &Statement, dialect: SqlDialect, schema: &Schema) -> References {
    let mut walker = Walker::new(dialect, schema);
    walker.statement(statement);
    let mut targets = Targets::default();
    let mut visitor = TargetVisitor {
        dialect,
        targets: &mut targets,
        relations: (!lists_a_container(statement)).then(Vec::new),
        cte_names: Vec::new(),
    };
    let _ = statement.visit(&mut visitor);
    let mut relations = visitor.relations.unwrap_or_default();
    let cte_names = visitor.cte_names;
    for name in &targets.not_read {
        if let Some(i) = relations.iter().position(|r| r == name) {
            relations.remove(i);
        }
    }
    relations.extend(targets.read);
    let tables: BTreeSet<String> = relations
        .into_iter()
        .filter(|r| !r.eq_ignore_ascii_case(super::template::PARAM))
        .filter(|r| {
            !(r.split('.').count() == 1 && cte_names.iter().any(|c| c.eq_ignore_ascii_case(r)))
        })
        .collect();
    References {
        tables: tables.into_iter().collect(),
        written_tables: targets
            .written
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        columns: walker.columns.into_iter().collect(),
    }
}
