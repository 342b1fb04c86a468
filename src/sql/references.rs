//! Tables and columns a parsed statement touches. Tables come from every
//! relation name in the statement (sqlparser's relation visitor), minus CTE
//! names and table-valued functions, with the targets of every write kept
//! apart: INSERT, UPDATE, DELETE (also inside a CTE), MERGE, CREATE,
//! SELECT … INTO, TRUNCATE, COPY … FROM, Snowflake's COPY INTO a table,
//! Databricks' OPTIMIZE. The container a SHOW lists (a schema, a
//! database) is not a table. Columns are resolved scope by scope: through
//! table aliases, derived tables and CTEs to `table.column` where the text
//! allows, bare `column` where it does not.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CopyIntoSnowflakeKind, CopySource, Expr, FromTable, Ident, ObjectName, ObjectNamePart, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor,
    TableObject, TableWithJoins, UpdateTableFromKind, Visit, Visitor, visit_relations,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::SqlDialect;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct References {
    pub tables: Vec<String>,
    pub written_tables: Vec<String>,
    pub columns: Vec<String>,
}

/// Identifier case as the dialect stores it: unquoted names fold (Snowflake
/// upper, Postgres and Redshift lower), quoted names are kept.
fn fold(ident: &Ident, dialect: SqlDialect) -> String {
    if ident.quote_style.is_some() {
        return ident.value.clone();
    }
    match dialect {
        SqlDialect::Snowflake => ident.value.to_uppercase(),
        SqlDialect::Postgres | SqlDialect::Redshift => ident.value.to_lowercase(),
        _ => ident.value.clone(),
    }
}

/// A table name's parts as the dialect stores them. Databricks (Unity
/// Catalog and the Hive metastore) keeps catalog, schema and table names in
/// lower case whether they were quoted or not.
fn object_name(name: &ObjectName, dialect: SqlDialect) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) if dialect == SqlDialect::Databricks => {
                ident.value.to_lowercase()
            }
            ObjectNamePart::Identifier(ident) => fold(ident, dialect),
            other => other.to_string(),
        })
        .collect()
}

/// What a FROM item provides to column resolution.
#[derive(Debug, Clone)]
enum Provides {
    Table(String),
    Derived(Outputs),
}

/// The output columns of a subquery or CTE, each with the base column it
/// passes through (if it is one).
#[derive(Debug, Clone, Default)]
struct Outputs {
    columns: HashMap<String, Option<String>>,
    /// `SELECT *` / `t.*` over this source: any other name resolves there.
    star: Option<Box<Provides>>,
}

#[derive(Debug)]
struct Source {
    alias: String,
    provides: Provides,
}

struct Scope<'p> {
    sources: Vec<Source>,
    parent: Option<&'p Scope<'p>>,
}

fn column_of(provides: &Provides, column: &str) -> Option<String> {
    match provides {
        Provides::Table(table) => Some(format!("{table}.{column}")),
        Provides::Derived(outputs) => match outputs.columns.get(&column.to_lowercase()) {
            Some(resolved) => resolved.clone(),
            None => outputs.star.as_ref().and_then(|s| column_of(s, column)),
        },
    }
}

impl Scope<'_> {
    fn find(&self, alias: &str) -> Option<&Source> {
        self.sources
            .iter()
            .find(|s| s.alias.eq_ignore_ascii_case(alias))
            .or_else(|| self.parent.and_then(|p| p.find(alias)))
    }

    /// `parts` is a column reference, already case-folded.
    fn resolve(&self, parts: &[String]) -> String {
        let column = parts.last().expect("a reference has a name").clone();
        match parts.len() {
            1 => {
                if let [only] = self.sources.as_slice() {
                    return column_of(&only.provides, &column).unwrap_or(column);
                }
                // Several sources: a derived table that outputs the name is
                // the only evidence the text gives.
                self.sources
                    .iter()
                    .find_map(|s| match &s.provides {
                        Provides::Derived(o) if o.columns.contains_key(&column.to_lowercase()) => {
                            column_of(&s.provides, &column)
                        }
                        _ => None,
                    })
                    .unwrap_or(column)
            }
            2 => self
                .find(&parts[0])
                .and_then(|s| column_of(&s.provides, &column))
                .unwrap_or(column),
            _ => parts.join("."),
        }
    }
}

/// Column references and subqueries of an expression, not descending into
/// the subqueries (they are their own scope).
#[derive(Default)]
struct ExprRefs {
    depth: usize,
    columns: Vec<Vec<Ident>>,
    subqueries: Vec<Query>,
}

impl Visitor for ExprRefs {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.subqueries.push(query.clone());
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            match expr {
                Expr::Identifier(ident) => self.columns.push(vec![ident.clone()]),
                Expr::CompoundIdentifier(idents) => self.columns.push(idents.clone()),
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }
}

/// Niladic functions the parser reads as identifiers.
const NOT_COLUMNS: &[&str] = &[
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "session_user",
    "localtime",
    "localtimestamp",
    "sysdate",
];

struct Walker {
    dialect: SqlDialect,
    ctes: Vec<(String, Outputs)>,
    columns: BTreeSet<String>,
}

impl Walker {
    fn query(&mut self, query: &Query, parent: Option<&Scope>) -> Outputs {
        let depth = self.ctes.len();
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let outputs = self.query(&cte.query, parent);
                self.ctes
                    .push((cte.alias.name.value.to_lowercase(), outputs));
            }
        }
        let outputs = self.set_expr(&query.body, parent);
        self.ctes.truncate(depth);
        outputs
    }

    fn set_expr(&mut self, body: &SetExpr, parent: Option<&Scope>) -> Outputs {
        match body {
            SetExpr::Select(select) => self.select(select, parent),
            SetExpr::Query(query) => self.query(query, parent),
            SetExpr::SetOperation { left, right, .. } => {
                let outputs = self.set_expr(left, parent);
                self.set_expr(right, parent);
                outputs
            }
            _ => Outputs::default(),
        }
    }

    fn cte(&self, name: &str) -> Option<Outputs> {
        self.ctes
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, o)| o.clone())
    }

    fn factor(&mut self, factor: &TableFactor, scope: &mut Scope) {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                let parts = object_name(name, self.dialect);
                let last = parts.last().cloned().unwrap_or_default();
                let alias = alias
                    .as_ref()
                    .map_or(last.clone(), |a| a.name.value.clone());
                let provides = match (parts.len(), self.cte(&last)) {
                    (1, Some(outputs)) => Provides::Derived(outputs),
                    _ => Provides::Table(parts.join(".")),
                };
                scope.sources.push(Source { alias, provides });
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let outputs = self.query(subquery, scope.parent);
                scope.sources.push(Source {
                    alias: alias
                        .as_ref()
                        .map_or(String::new(), |a| a.name.value.clone()),
                    provides: Provides::Derived(outputs),
                });
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins, scope),
            _ => {}
        }
    }

    fn table_with_joins(&mut self, item: &TableWithJoins, scope: &mut Scope) {
        self.factor(&item.relation, scope);
        for join in &item.joins {
            self.factor(&join.relation, scope);
        }
    }

    fn select(&mut self, select: &Select, parent: Option<&Scope>) -> Outputs {
        let mut scope = Scope {
            sources: Vec::new(),
            parent,
        };
        for item in &select.from {
            self.table_with_joins(item, &mut scope);
        }
        let aliases: Vec<String> = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
                _ => None,
            })
            .collect();
        let mut refs = ExprRefs::default();
        let _ = select.projection.visit(&mut refs);
        let _ = select.selection.visit(&mut refs);
        for item in &select.from {
            for join in &item.joins {
                let _ = join.join_operator.visit(&mut refs);
            }
        }
        let in_projection = refs.columns.len();
        let _ = select.group_by.visit(&mut refs);
        let _ = select.having.visit(&mut refs);
        let _ = select.qualify.visit(&mut refs);
        for (i, parts) in refs.columns.iter().enumerate() {
            let parts: Vec<String> = parts.iter().map(|p| fold(p, self.dialect)).collect();
            let name = parts.last().map(|p| p.to_lowercase()).unwrap_or_default();
            if parts.len() == 1
                && (NOT_COLUMNS.contains(&name.as_str())
                    || name.eq_ignore_ascii_case(super::template::PARAM)
                    || name.starts_with('@')
                    || (i >= in_projection && aliases.contains(&name)))
            {
                continue;
            }
            self.columns.insert(scope.resolve(&parts));
        }
        for subquery in &refs.subqueries {
            self.query(subquery, Some(&scope));
        }
        let mut outputs = Outputs::default();
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                    let passes = match expr {
                        Expr::Identifier(i) => Some(vec![fold(i, self.dialect)]),
                        Expr::CompoundIdentifier(is) => {
                            Some(is.iter().map(|i| fold(i, self.dialect)).collect())
                        }
                        _ => None,
                    };
                    let name = match item {
                        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                        _ => passes.as_ref().and_then(|p| p.last().cloned()),
                    };
                    if let Some(name) = name {
                        let resolved = passes.map(|p| scope.resolve(&p));
                        outputs.columns.insert(name.to_lowercase(), resolved);
                    }
                }
                SelectItem::Wildcard(_) => {
                    if let [only] = scope.sources.as_slice() {
                        outputs.star = Some(Box::new(only.provides.clone()));
                    }
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) => {
                    let parts = object_name(n, self.dialect);
                    if let Some(source) = parts.last().and_then(|p| scope.find(p)) {
                        outputs.star = Some(Box::new(source.provides.clone()));
                    }
                }
                _ => {}
            }
        }
        outputs
    }
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

struct TargetVisitor<'t> {
    dialect: SqlDialect,
    targets: &'t mut Targets,
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
                if let Ok(parsed) = Parser::new(self.dialect.parser_dialect().as_ref())
                    .try_with_sql(text)
                    .and_then(|mut p| p.parse_statements())
                {
                    for inner in &parsed {
                        self.targets
                            .read
                            .extend(references(inner, self.dialect).tables);
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.select_into(&query.body);
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

/// Every query a statement holds, for column resolution.
fn queries(statement: &Statement) -> Vec<&Query> {
    match statement {
        Statement::Query(q) => vec![q],
        Statement::Insert(insert) => insert.source.as_deref().into_iter().collect(),
        Statement::CreateTable(create) => create.query.as_deref().into_iter().collect(),
        Statement::CreateView(view) => vec![&view.query],
        _ => Vec::new(),
    }
}

pub fn references(statement: &Statement, dialect: SqlDialect) -> References {
    let mut walker = Walker {
        dialect,
        ctes: Vec::new(),
        columns: BTreeSet::new(),
    };
    let mut cte_names = Vec::new();
    let _ = statement.visit(&mut CteNames(&mut cte_names));
    for query in queries(statement) {
        walker.query(query, None);
    }
    let mut targets = Targets::default();
    let _ = statement.visit(&mut TargetVisitor {
        dialect,
        targets: &mut targets,
    });
    let mut relations: Vec<String> = Vec::new();
    if !lists_a_container(statement) {
        let _ = visit_relations(statement, |name| {
            relations.push(object_name(name, dialect).join("."));
            ControlFlow::<()>::Continue(())
        });
    }
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

struct CteNames<'a>(&'a mut Vec<String>);

impl Visitor for CteNames<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            self.0
                .extend(with.cte_tables.iter().map(|c| c.alias.name.value.clone()));
        }
        ControlFlow::Continue(())
    }
}
