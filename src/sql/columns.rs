//! The base-table columns a statement reads or writes, resolved scope by
//! scope: through table aliases, derived tables and CTEs to `table.column`
//! where the text (or the schema) allows, bare `column` where it does not.
//!
//! - An output name (a SELECT alias, a CTE's or derived table's column) is
//!   not a table column: a reference to it adds the base column it passes
//!   through, if any (the columns behind a computed one were already taken
//!   where it was computed).
//! - Every clause counts: ORDER BY, GROUP BY, HAVING, QUALIFY, windows,
//!   join conditions, and in DML the target columns written (SET, INSERT
//!   lists, MERGE actions) as well as the columns read.
//! - An unqualified name goes to the one source of its scope that can own
//!   it. Without a schema, any table can; derived tables, CTEs and table
//!   functions own only their outputs. When no source of a scope can own
//!   it, it belongs to the enclosing query (a correlated reference); when
//!   several can, it stays bare: never a guess.
//! - A templated table (`{{ ref(…) }}`, `IDENTIFIER($v)`, Looker's
//!   `${TABLE}`) is unknown: its columns are bare names.
//! - `t.payload.field`, `payload:path`, `payload->'k'` are the top-level
//!   column `t.payload`; the outputs of UNNEST / FLATTEN / LATERAL VIEW are
//!   values, not columns; type names and date parts are not columns.
//!
//! Each subquery is resolved while the expression holding it is walked
//! (never cloned), in a scope of its own, and the walk of the enclosing
//! expression does not enter it again: every expression is visited once.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::rc::Rc;

use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, ConnectByKind, CopySource, Delete, Expr, ExprWithAlias, FromTable, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Insert, JoinConstraint,
    JoinOperator, Merge, MergeAction, MergeClauseKind, MergeInsertKind, NamedWindowDefinition,
    ObjectName, ObjectNamePart, OnConflictAction, OnInsert, OrderByExpr, OrderByKind, OutputClause,
    PivotValueSource, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    Statement, TableAlias, TableFactor, TableObject, TableWithJoins, Top, Update,
    UpdateTableFromKind, Values, Visit, Visitor, WindowType,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::schema::{Columns, Schema};
use super::{SqlDialect, template};

/// Identifier case as the dialect stores it: unquoted names fold (Snowflake
/// upper, Postgres and Redshift lower), quoted names are kept.
/// Borrowed when folding changes nothing (most names): a name is folded
/// for every reference resolved.
pub(super) fn fold(ident: &Ident, dialect: SqlDialect) -> Cow<'_, str> {
    let value = ident.value.as_str();
    if ident.quote_style.is_some() {
        return Cow::Borrowed(value);
    }
    match dialect {
        SqlDialect::Snowflake
            if value
                .bytes()
                .any(|b| b.is_ascii_lowercase() || !b.is_ascii()) =>
        {
            Cow::Owned(value.to_uppercase())
        }
        SqlDialect::Postgres | SqlDialect::Redshift => lowered(value),
        _ => Cow::Borrowed(value),
    }
}

/// Name parts joined by dots.
fn joined<S: AsRef<str>>(parts: &[S]) -> String {
    parts
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<&str>>()
        .join(".")
}

/// `table.column`.
fn dotted(table: &str, column: &str) -> String {
    let mut out = String::with_capacity(table.len() + 1 + column.len());
    out.push_str(table);
    out.push('.');
    out.push_str(column);
    out
}

/// A table name's parts as the dialect stores them. Databricks (Unity
/// Catalog and the Hive metastore) keeps catalog, schema and table names in
/// lower case whether they were quoted or not.
pub(super) fn object_name(name: &ObjectName, dialect: SqlDialect) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) if dialect == SqlDialect::Databricks => {
                ident.value.to_lowercase()
            }
            ObjectNamePart::Identifier(ident) => fold(ident, dialect).into_owned(),
            other => other.to_string(),
        })
        .collect()
}

/// What a FROM item provides to column resolution.
#[derive(Debug, Clone)]
enum Provides<'s> {
    /// A base table, with its columns when the schema knows them.
    Table {
        name: String,
        known: Option<&'s Columns>,
    },
    /// A templated table reference: no name to give its columns.
    Unknown,
    /// A subquery or CTE.
    Derived(Rc<Outputs<'s>>),
    /// A table function (UNNEST, FLATTEN, LATERAL VIEW …): its outputs
    /// (lower case) are values, not columns of a table. `open`: it may
    /// output other names too (BigQuery's unaliased UNNEST of structs
    /// makes their fields names).
    Function { names: Vec<String>, open: bool },
}

/// The output columns of a subquery or CTE, in order, each with the base
/// column it passes through (if it is one).
#[derive(Debug, Default)]
struct Outputs<'s> {
    columns: Vec<(String, Option<String>)>,
    /// `SELECT *` / `t.*`: names not listed resolve in these.
    star: Vec<Provides<'s>>,
    /// Owns any name (a recursive CTE inside its own body, VALUES): a
    /// reference to it adds nothing.
    opaque: bool,
}

impl Outputs<'_> {
    fn get(&self, lower: &str) -> Option<&Option<String>> {
        self.columns
            .iter()
            .find(|(name, _)| name == lower)
            .map(|(_, base)| base)
    }
}

/// Whether `name` is one of the lower-case `words`, in any case.
fn one_of(words: &[&str], name: &str) -> bool {
    words.iter().any(|w| w.eq_ignore_ascii_case(name))
}

/// Whether a source can own a name.
enum Owner<'a> {
    /// It does; the base column to add (none for a computed output).
    Yes(Found<'a>),
    /// It may (a table the schema does not know): the column if so.
    Maybe(Found<'a>),
    No,
}

/// The column a name stands for, made a string only when it is kept:
/// resolving a name asks every visible source, and most answers are
/// dropped.
enum Found<'a> {
    /// `table.column`.
    Column(&'a str, &'a str),
    /// The name as written.
    Bare(&'a str),
    /// A subquery output's base column, if it passes one through.
    Base(&'a Option<String>),
    /// A value, not a column (a table function's output).
    Nothing,
}

impl Found<'_> {
    fn into_column(self) -> Option<String> {
        match self {
            Found::Column(table, column) => Some(dotted(table, column)),
            Found::Bare(name) => Some(name.to_string()),
            Found::Base(base) => base.clone(),
            Found::Nothing => None,
        }
    }
}

/// `name` in lower case, borrowed when it already is.
fn lowered(name: &str) -> Cow<'_, str> {
    if name
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        Cow::Owned(name.to_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

fn owner<'a>(provides: &'a Provides, column: &'a str, lower: &str) -> Owner<'a> {
    match provides {
        Provides::Table {
            name,
            known: Some(columns),
        } => {
            if columns.contains(lower) {
                Owner::Yes(Found::Column(name, column))
            } else {
                Owner::No
            }
        }
        Provides::Table { name, known: None } => Owner::Maybe(Found::Column(name, column)),
        Provides::Unknown => Owner::Maybe(Found::Bare(column)),
        Provides::Function { names, open } => {
            if names.iter().any(|n| n == lower) {
                Owner::Yes(Found::Nothing)
            } else if *open {
                Owner::Maybe(Found::Nothing)
            } else {
                Owner::No
            }
        }
        Provides::Derived(outputs) => {
            if let Some(base) = outputs.get(lower) {
                return Owner::Yes(Found::Base(base));
            }
            if outputs.opaque {
                return Owner::Yes(Found::Nothing);
            }
            among(outputs.star.iter(), column, lower)
        }
    }
}

/// The owner of a name among several sources: a sure one, else the only
/// possible one; several possible ones leave it bare.
fn among<'a, 's: 'a>(
    sources: impl Iterator<Item = &'a Provides<'s>>,
    column: &'a str,
    lower: &str,
) -> Owner<'a> {
    let mut maybe = None;
    let mut count = 0;
    for provides in sources {
        match owner(provides, column, lower) {
            Owner::Yes(found) => return Owner::Yes(found),
            Owner::Maybe(found) => {
                count += 1;
                maybe.get_or_insert(found);
            }
            Owner::No => {}
        }
    }
    match (count, maybe) {
        (0, _) => Owner::No,
        (1, Some(found)) => Owner::Maybe(found),
        _ => Owner::Maybe(Found::Bare(column)),
    }
}

#[derive(Debug)]
struct Source<'s> {
    /// Named only with a qualifier (Postgres' EXCLUDED, SQL Server's
    /// INSERTED / DELETED): never the owner of an unqualified name.
    hidden: bool,
    /// The name the query refers to it by (lower case): its alias, else
    /// its table name's last part.
    alias: String,
    /// The full table name (lower case), for `schema.table.column`.
    table: Option<String>,
    provides: Provides<'s>,
}

struct Scope<'p, 's> {
    sources: Vec<Source<'s>>,
    parent: Option<&'p Scope<'p, 's>>,
}

impl<'s> Scope<'_, 's> {
    fn new<'p>(parent: Option<&'p Scope<'p, 's>>) -> Scope<'p, 's> {
        Scope {
            sources: Vec::new(),
            parent,
        }
    }

    /// The column an unqualified name stands for (`None`: nothing to add).
    fn name(&self, column: &str) -> Option<String> {
        let lower = lowered(column);
        match among(self.visible(), column, &lower) {
            Owner::Yes(found) | Owner::Maybe(found) => found.into_column(),
            Owner::No => match self.parent {
                Some(parent) => parent.name(column),
                None => Some(column.to_string()),
            },
        }
    }

    fn visible(&self) -> impl Iterator<Item = &Provides<'s>> {
        self.sources
            .iter()
            .filter(|s| !s.hidden)
            .map(|s| &s.provides)
    }

    /// The source `qualifier` names, nearest scope first.
    fn find<S: AsRef<str>>(&self, qualifier: &[S]) -> Option<&Source<'s>> {
        let found = match qualifier {
            [alias] => self
                .sources
                .iter()
                .find(|s| s.alias.eq_ignore_ascii_case(alias.as_ref())),
            _ => {
                let name = joined(qualifier).to_lowercase();
                self.sources.iter().find(|s| {
                    s.table.as_deref().is_some_and(|t| {
                        t == name
                            || (t.ends_with(&name) && t[..t.len() - name.len()].ends_with('.'))
                    })
                })
            }
        };
        found.or_else(|| self.parent.and_then(|p| p.find(qualifier)))
    }

    /// The column a (folded) reference stands for.
    fn resolve<S: AsRef<str>>(&self, parts: &[S], dialect: SqlDialect) -> Option<String> {
        // BigQuery quotes a whole path in one pair of backticks.
        if dialect == SqlDialect::Bigquery && parts.iter().any(|p| p.as_ref().contains('.')) {
            let split: Vec<&str> = parts.iter().flat_map(|p| p.as_ref().split('.')).collect();
            return self.resolve(&split, dialect);
        }
        if let [column] = parts {
            return self.name(column.as_ref());
        }
        // `alias.column`, `schema.table.column`, then struct fields after it.
        for split in 1..parts.len() {
            if let Some(source) = self.find(&parts[..split]) {
                let column = parts[split].as_ref();
                return match owner(&source.provides, column, &lowered(column)) {
                    Owner::Yes(found) | Owner::Maybe(found) => found.into_column(),
                    // The text says so even if the schema does not.
                    Owner::No => match &source.provides {
                        Provides::Table { name, .. } => Some(dotted(name, column)),
                        _ => None,
                    },
                };
            }
        }
        // No source by that name: a struct column's field access where the
        // dialect has them, else the name as written.
        let first = parts[0].as_ref();
        if let Owner::Yes(found) = among(self.visible(), first, &lowered(first)) {
            return found.into_column();
        }
        match dialect {
            SqlDialect::Bigquery | SqlDialect::Databricks => self.name(first),
            _ if parts.len() == 2 => Some(parts[1].as_ref().to_string()),
            _ => Some(joined(parts)),
        }
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

/// BigQuery's pseudo-columns (of wildcard and partitioned tables).
const PSEUDO_COLUMNS: &[&str] = &["_table_suffix", "_partitiontime", "_partitiondate"];

/// Functions taking a date part as a bare word (`DATEADD(day, …)`,
/// BigQuery's `DATE_TRUNC(d, MONTH)`).
const DATE_PART_FUNCTIONS: &[&str] = &[
    "dateadd",
    "datediff",
    "datediff_big",
    "datepart",
    "datename",
    "datetrunc",
    "date_part",
    "date_trunc",
    "date_diff",
    "datetime_diff",
    "datetime_trunc",
    "timestamp_diff",
    "timestamp_trunc",
    "time_diff",
    "time_trunc",
    "timestampadd",
    "timestampdiff",
    "timeadd",
    "timediff",
    "last_day",
];

const DATE_PARTS: &[&str] = &[
    "year",
    "years",
    "yy",
    "yyyy",
    "quarter",
    "quarters",
    "qq",
    "month",
    "months",
    "mm",
    "mon",
    "week",
    "weeks",
    "wk",
    "ww",
    "isoweek",
    "isoyear",
    "day",
    "days",
    "dd",
    "dayofweek",
    "dayofyear",
    "dy",
    "dw",
    "weekday",
    "hour",
    "hours",
    "hh",
    "minute",
    "minutes",
    "mi",
    "second",
    "seconds",
    "ss",
    "millisecond",
    "milliseconds",
    "ms",
    "microsecond",
    "microseconds",
    "mcs",
    "us",
    "nanosecond",
    "nanoseconds",
    "ns",
    "epoch",
];

/// Snowflake FLATTEN's output columns.
const FLATTEN_OUTPUTS: &[&str] = &["seq", "key", "path", "index", "value", "this"];

/// Walks one expression tree of a scope: resolves each column reference
/// and each subquery (in a scope under this one) as it meets them.
struct Exprs<'a, 'p, 's> {
    walker: &'a mut Walker<'s>,
    scope: &'a Scope<'p, 's>,
    /// Output names the clause may refer to instead of columns (ORDER BY,
    /// GROUP BY, HAVING, QUALIFY), lower case.
    aliases: &'a [String],
    /// Inside a subquery already resolved: skip until it ends.
    depth: usize,
    /// Expressions met that are not column references (the field names of
    /// a path, date parts, named-argument names), by address: the visitor
    /// reaches them after their parent.
    skip: Vec<*const Expr>,
    /// Lambda parameters in scope, lower case.
    lambda: Vec<String>,
}

impl Visitor for Exprs<'_, '_, '_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.walker.query(query, Some(self.scope));
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        if let Some(at) = self
            .skip
            .iter()
            .position(|&e| std::ptr::eq(e, expr as *const Expr))
        {
            self.skip.swap_remove(at);
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Identifier(ident) => self.reference(std::slice::from_ref(ident)),
            Expr::CompoundIdentifier(idents) => self.reference(idents),
            Expr::CompoundFieldAccess { access_chain, .. } => {
                for access in access_chain {
                    if let datafusion::sql::sqlparser::ast::AccessExpr::Dot(field) = access {
                        self.skip.push(field);
                    }
                }
            }
            Expr::Function(function) => {
                let name = function
                    .name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map_or("", |i| i.value.as_str());
                let dated = one_of(DATE_PART_FUNCTIONS, name);
                if let FunctionArguments::List(list) = &function.args {
                    for arg in &list.args {
                        match arg {
                            FunctionArg::ExprNamed { name, .. } => self.skip.push(name),
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(
                                e @ Expr::Identifier(ident),
                            )) if dated
                                && ident.quote_style.is_none()
                                && one_of(DATE_PARTS, &ident.value) =>
                            {
                                self.skip.push(e)
                            }
                            _ => {}
                        }
                    }
                }
            }
            Expr::Lambda(lambda) => self
                .lambda
                .extend(lambda.params.iter().map(|p| p.name.value.to_lowercase())),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth == 0
            && let Expr::Lambda(lambda) = expr
        {
            let keep = self.lambda.len().saturating_sub(lambda.params.len());
            self.lambda.truncate(keep);
        }
        ControlFlow::Continue(())
    }
}

impl Exprs<'_, '_, '_> {
    fn reference(&mut self, idents: &[Ident]) {
        let dialect = self.walker.dialect;
        let named = |names: &[String], lower: &str| names.iter().any(|n| n == lower);
        if let [ident] = idents {
            let lower = lowered(&ident.value);
            if ident.quote_style.is_none()
                && (NOT_COLUMNS.contains(&&*lower)
                    || lower == template::PARAM
                    || lower.starts_with('@')
                    || lower.starts_with('$'))
            {
                return;
            }
            if named(self.aliases, &lower)
                || named(&self.lambda, &lower)
                || (dialect == SqlDialect::Bigquery && PSEUDO_COLUMNS.contains(&&*lower))
            {
                return;
            }
        }
        if !self.lambda.is_empty()
            && idents
                .first()
                .is_some_and(|i| named(&self.lambda, &lowered(&i.value)))
        {
            return;
        }
        let parts: Vec<Cow<str>> = idents.iter().map(|i| fold(i, dialect)).collect();
        if let Some(column) = self.scope.resolve(&parts, dialect) {
            self.walker.columns.insert(column);
        }
    }
}

/// An AST part whose expressions `Exprs` resolves. The common
/// expression shapes are walked by hand, so a subquery is handed to its own
/// scope and not entered again; sqlparser's visitor (which cannot skip a
/// subtree) walks only the rare rest.
trait Walk {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>);
}

impl Walk for Expr {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        exprs.expr(self);
    }
}

impl<T: Walk> Walk for Option<T> {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        if let Some(node) = self {
            node.walk(exprs);
        }
    }
}

impl<T: Walk> Walk for Box<T> {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        T::walk(self, exprs);
    }
}

impl<T: Walk> Walk for [T] {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        for node in self {
            node.walk(exprs);
        }
    }
}

impl<T: Walk> Walk for Vec<T> {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        self.as_slice().walk(exprs);
    }
}

impl Walk for SelectItem {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        match self {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                exprs.expr(expr)
            }
            other => exprs.visit(other),
        }
    }
}

impl Walk for OrderByExpr {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        exprs.expr(&self.expr);
        exprs.visit(&self.with_fill);
    }
}

impl Walk for GroupByExpr {
    fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
        match self {
            GroupByExpr::Expressions(list, modifiers) => {
                list.walk(exprs);
                exprs.visit(modifiers);
            }
            GroupByExpr::All(modifiers) => exprs.visit(modifiers),
        }
    }
}

/// Parts left to sqlparser's visitor.
macro_rules! walk_by_visitor {
    ($($t:ty),* $(,)?) => {
        $(impl Walk for $t {
            fn walk(&self, exprs: &mut Exprs<'_, '_, '_>) {
                exprs.visit(self);
            }
        })*
    };
}

walk_by_visitor!(
    Top,
    ConnectByKind,
    NamedWindowDefinition,
    OutputClause,
    FunctionArg,
    ExprWithAlias,
    Values,
    PivotValueSource,
);

impl Exprs<'_, '_, '_> {
    /// The visitor's walk of a part, from the top (not inside a subquery).
    fn visit<V: Visit + ?Sized>(&mut self, node: &V) {
        let _ = node.visit(self);
    }

    fn subquery(&mut self, query: &Query) {
        self.walker.query(query, Some(self.scope));
    }

    /// What `pre_visit_expr` and the visitor's walk below it do, for the
    /// shapes that make up nearly all of real SQL.
    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Identifier(ident) => self.reference(std::slice::from_ref(ident)),
            Expr::CompoundIdentifier(idents) => self.reference(idents),
            Expr::Value(_) | Expr::TypedString(_) | Expr::Wildcard(_) => {}
            Expr::BinaryOp { left, right, .. }
            | Expr::IsDistinctFrom(left, right)
            | Expr::IsNotDistinctFrom(left, right)
            | Expr::AnyOp { left, right, .. }
            | Expr::AllOp { left, right, .. }
            | Expr::Like {
                expr: left,
                pattern: right,
                ..
            }
            | Expr::ILike {
                expr: left,
                pattern: right,
                ..
            }
            | Expr::AtTimeZone {
                timestamp: left,
                time_zone: right,
            } => {
                self.expr(left);
                self.expr(right);
            }
            Expr::Nested(inner)
            | Expr::UnaryOp { expr: inner, .. }
            | Expr::IsNull(inner)
            | Expr::IsNotNull(inner)
            | Expr::IsTrue(inner)
            | Expr::IsNotTrue(inner)
            | Expr::IsFalse(inner)
            | Expr::IsNotFalse(inner)
            | Expr::Cast { expr: inner, .. }
            | Expr::Extract { expr: inner, .. } => self.expr(inner),
            Expr::InList { expr, list, .. } => {
                self.expr(expr);
                list.walk(self);
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr);
                self.expr(low);
                self.expr(high);
            }
            Expr::InSubquery { expr, subquery, .. } => {
                self.expr(expr);
                self.subquery(subquery);
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.subquery(subquery),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                operand.walk(self);
                for when in conditions {
                    self.expr(&when.condition);
                    self.expr(&when.result);
                }
                else_result.walk(self);
            }
            Expr::Tuple(list) => list.walk(self),
            Expr::Function(function) => self.function(function),
            other => self.visit(other),
        }
    }

    fn function(&mut self, function: &Function) {
        let name = function
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map_or("", |i| i.value.as_str());
        self.visit(&function.parameters);
        match &function.args {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(query) => self.subquery(query),
            FunctionArguments::List(list) => {
                let dated = one_of(DATE_PART_FUNCTIONS, name);
                for arg in &list.args {
                    match arg {
                        // A named argument's name is not a column.
                        FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. } => {
                            self.function_arg(arg)
                        }
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(ident)))
                            if dated
                                && ident.quote_style.is_none()
                                && one_of(DATE_PARTS, &ident.value) => {}
                        FunctionArg::Unnamed(arg) => self.function_arg(arg),
                    }
                }
                self.visit(&list.clauses);
            }
        }
        function.filter.walk(self);
        if let Some(WindowType::WindowSpec(spec)) = &function.over {
            spec.partition_by.walk(self);
            spec.order_by.walk(self);
            self.visit(&spec.window_frame);
        }
        function.within_group.walk(self);
    }

    fn function_arg(&mut self, arg: &FunctionArgExpr) {
        match arg {
            FunctionArgExpr::Expr(expr) => self.expr(expr),
            other => self.visit(other),
        }
    }
}

pub(super) struct Walker<'s> {
    dialect: SqlDialect,
    schema: &'s Schema,
    ctes: Vec<(String, Rc<Outputs<'s>>)>,
    pub(super) columns: BTreeSet<String>,
}

impl<'s> Walker<'s> {
    pub(super) fn new(dialect: SqlDialect, schema: &'s Schema) -> Self {
        Walker {
            dialect,
            schema,
            ctes: Vec::new(),
            columns: BTreeSet::new(),
        }
    }

    /// Resolves the references of `node` (any AST part) in `scope`.
    fn exprs<W: Walk + ?Sized>(&mut self, node: &W, scope: &Scope<'_, 's>, aliases: &[String]) {
        let mut visitor = Exprs {
            walker: self,
            scope,
            aliases,
            depth: 0,
            skip: Vec::new(),
            lambda: Vec::new(),
        };
        node.walk(&mut visitor);
    }

    /// `table.column` for a column of a known target.
    fn target_column(&mut self, target: &Provides<'s>, column: &ObjectName) {
        let parts = object_name(column, self.dialect);
        let Some(name) = parts.last() else { return };
        if name.eq_ignore_ascii_case(template::PARAM) {
            return;
        }
        match target {
            Provides::Table { name: table, .. } => {
                self.columns.insert(dotted(table, name));
            }
            Provides::Unknown => {
                self.columns.insert(name.clone());
            }
            _ => {}
        }
    }

    pub(super) fn statement(&mut self, statement: &Statement) {
        match statement {
            Statement::Query(query) => {
                self.query(query, None);
            }
            Statement::Insert(insert) => self.insert(insert),
            Statement::Update(update) => self.update(update),
            Statement::Delete(delete) => self.delete(delete),
            Statement::Merge(merge) => self.merge(merge),
            Statement::CreateTable(create) => {
                if let Some(query) = &create.query {
                    self.query(query, None);
                }
            }
            Statement::CreateView(view) => {
                self.query(&view.query, None);
            }
            Statement::Explain { statement, .. } => self.statement(statement),
            Statement::Copy { source, .. } => match source {
                CopySource::Query(query) => {
                    self.query(query, None);
                }
                CopySource::Table {
                    table_name,
                    columns,
                } => {
                    let table = self.table(table_name);
                    for column in columns {
                        self.target_column(&table, &ObjectName::from(vec![column.clone()]));
                    }
                }
            },
            Statement::CopyIntoSnowflake {
                from_query: Some(query),
                ..
            } => {
                self.query(query, None);
            }
            Statement::Unload {
                query, query_text, ..
            } => {
                if let Some(query) = query {
                    self.query(query, None);
                }
                if let Some(text) = query_text {
                    for inner in &unload_statements(text, self.dialect) {
                        self.statement(inner);
                    }
                }
            }
            _ => {}
        }
    }

    fn table(&self, name: &ObjectName) -> Provides<'s> {
        let parts = object_name(name, self.dialect);
        let joined = parts.join(".");
        if parts.len() == 1
            && let Some(outputs) = self.cte(&joined)
        {
            return Provides::Derived(outputs);
        }
        if joined.eq_ignore_ascii_case(template::PARAM)
            || joined.eq_ignore_ascii_case(template::LOOKER_TABLE)
        {
            return Provides::Unknown;
        }
        let known = self.schema.columns(&joined);
        Provides::Table {
            name: joined,
            known,
        }
    }

    fn insert(&mut self, insert: &Insert) {
        let TableObject::TableName(name) = &insert.table else {
            if let Some(source) = &insert.source {
                self.query(source, None);
            }
            return;
        };
        let target = self.table(name);
        for column in &insert.columns {
            self.target_column(&target, column);
        }
        if let Some(source) = &insert.source {
            self.query(source, None);
        }
        // ON CONFLICT / ON DUPLICATE KEY / RETURNING / OUTPUT see the
        // target (and Postgres' EXCLUDED row, SQL Server's INSERTED, which
        // have the target's columns).
        let mut scope = Scope::new(None);
        let alias = insert.table_alias.as_ref().map(|a| a.alias.value.clone());
        let parts = object_name(name, self.dialect);
        let last = parts.last().cloned().unwrap_or_default();
        scope.sources.push(Source {
            hidden: false,
            alias: alias.unwrap_or(last).to_lowercase(),
            table: Some(parts.join(".").to_lowercase()),
            provides: target.clone(),
        });
        for alias in ["excluded", "inserted"] {
            scope.sources.push(Source {
                hidden: true,
                alias: alias.into(),
                table: None,
                provides: target.clone(),
            });
        }
        let assignments = match &insert.on {
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => Some(assignments),
            Some(OnInsert::OnConflict(conflict)) => {
                if let Some(datafusion::sql::sqlparser::ast::ConflictTarget::Columns(columns)) =
                    &conflict.conflict_target
                {
                    for c in columns {
                        let name = fold(c, self.dialect);
                        self.target_column(&target, &ObjectName::from(vec![Ident::new(name)]));
                    }
                }
                match &conflict.action {
                    OnConflictAction::DoUpdate(update) => {
                        self.exprs(&update.selection, &scope, &[]);
                        Some(&update.assignments)
                    }
                    OnConflictAction::DoNothing => None,
                }
            }
            _ => None,
        };
        for assignment in assignments.into_iter().flatten() {
            self.assignment_target(&assignment.target, &target, &scope);
            self.exprs(&assignment.value, &scope, &[]);
        }
        self.exprs(&insert.returning, &scope, &[]);
        self.exprs(&insert.output, &scope, &[]);
    }

    fn assignment_target(
        &mut self,
        target: &AssignmentTarget,
        table: &Provides<'s>,
        scope: &Scope<'_, 's>,
    ) {
        let names = match target {
            AssignmentTarget::ColumnName(name) => std::slice::from_ref(name),
            AssignmentTarget::Tuple(names) => names.as_slice(),
        };
        for name in names {
            if name.0.len() == 1 {
                self.target_column(table, name);
            } else {
                let parts = object_name(name, self.dialect);
                if let Some(column) = scope.resolve(&parts, self.dialect) {
                    self.columns.insert(column);
                }
            }
        }
    }

    fn update(&mut self, update: &Update) {
        let mut scope = Scope::new(None);
        let mut from: Vec<&TableWithJoins> = Vec::new();
        if let Some(UpdateTableFromKind::BeforeSet(t) | UpdateTableFromKind::AfterSet(t)) =
            &update.from
        {
            from.extend(t);
        }
        for item in &from {
            self.table_with_joins(item, &mut scope);
        }
        // SQL Server's `UPDATE p SET … FROM t p`: the target is a FROM alias.
        let target = match &update.table.relation {
            TableFactor::Table {
                name, alias: None, ..
            } if name.0.len() == 1 && !from.is_empty() => {
                let parts = object_name(name, self.dialect);
                scope.find(&parts).map(|s| s.provides.clone())
            }
            _ => None,
        };
        let target = match target {
            Some(target) => target,
            None => {
                let before = scope.sources.len();
                self.table_with_joins(&update.table, &mut scope);
                scope
                    .sources
                    .get(before)
                    .map_or(Provides::Unknown, |s| s.provides.clone())
            }
        };
        self.join_conditions(from.iter().copied(), &scope);
        self.join_conditions(std::iter::once(&update.table), &scope);
        for assignment in &update.assignments {
            self.assignment_target(&assignment.target, &target, &scope);
            self.exprs(&assignment.value, &scope, &[]);
        }
        self.exprs(&update.selection, &scope, &[]);
        self.exprs(&update.returning, &scope, &[]);
        self.exprs(&update.order_by, &scope, &[]);
    }

    fn delete(&mut self, delete: &Delete) {
        let mut scope = Scope::new(None);
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
        for item in from.iter().chain(delete.using.iter().flatten()) {
            self.table_with_joins(item, &mut scope);
        }
        self.join_conditions(from.iter().chain(delete.using.iter().flatten()), &scope);
        self.exprs(&delete.selection, &scope, &[]);
        self.exprs(&delete.returning, &scope, &[]);
        self.exprs(&delete.order_by, &scope, &[]);
    }

    fn merge(&mut self, merge: &Merge) {
        let mut both = Scope::new(None);
        self.factor(&merge.table, &mut both);
        let target = both
            .sources
            .first()
            .map_or(Provides::Unknown, |s| s.provides.clone());
        let mut source_only = Scope::new(None);
        self.factor(&merge.source, &mut source_only);
        // The source's columns were taken once; the merged scope only
        // borrows what it provides.
        for s in &source_only.sources {
            both.sources.push(Source {
                hidden: false,
                alias: s.alias.clone(),
                table: s.table.clone(),
                provides: s.provides.clone(),
            });
        }
        self.exprs(merge.on.as_ref(), &both, &[]);
        for clause in &merge.clauses {
            // A row not matched by the target exists only in the source.
            let scope = match clause.clause_kind {
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget => &source_only,
                _ => &both,
            };
            self.exprs(&clause.predicate, scope, &[]);
            match &clause.action {
                MergeAction::Update(update) => {
                    for assignment in &update.assignments {
                        self.assignment_target(&assignment.target, &target, &both);
                        self.exprs(&assignment.value, scope, &[]);
                    }
                    self.exprs(&update.update_predicate, scope, &[]);
                    self.exprs(&update.delete_predicate, scope, &[]);
                }
                MergeAction::Insert(insert) => {
                    for column in &insert.columns {
                        self.target_column(&target, column);
                    }
                    if let MergeInsertKind::Values(values) = &insert.kind {
                        self.exprs(values, scope, &[]);
                    }
                }
                MergeAction::Delete { .. } => {}
            }
        }
    }

    fn query(&mut self, query: &Query, parent: Option<&Scope<'_, 's>>) -> Rc<Outputs<'s>> {
        let depth = self.ctes.len();
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.to_lowercase();
                if with.recursive {
                    // The CTE's own name inside its body: adds nothing.
                    let opaque = Outputs {
                        opaque: true,
                        ..Outputs::default()
                    };
                    self.ctes.push((name.clone(), Rc::new(opaque)));
                }
                let outputs = self.query(&cte.query, parent);
                if with.recursive {
                    self.ctes.pop();
                }
                let outputs = renamed(outputs, &cte.alias);
                self.ctes.push((name, outputs));
            }
        }
        let order_by = match &query.order_by {
            Some(order_by) => match &order_by.kind {
                OrderByKind::Expressions(exprs) => exprs.as_slice(),
                OrderByKind::All(_) => &[],
            },
            None => &[],
        };
        let outputs = match query.body.as_ref() {
            SetExpr::Select(select) => self.select(select, parent, order_by),
            body => {
                let outputs = self.set_expr(body, parent);
                // ORDER BY after a set operation names its output columns.
                let scope = Scope {
                    sources: vec![Source {
                        hidden: false,
                        alias: String::new(),
                        table: None,
                        provides: Provides::Derived(outputs.clone()),
                    }],
                    parent,
                };
                self.exprs(order_by, &scope, &[]);
                outputs
            }
        };
        self.ctes.truncate(depth);
        outputs
    }

    fn set_expr(&mut self, body: &SetExpr, parent: Option<&Scope<'_, 's>>) -> Rc<Outputs<'s>> {
        match body {
            SetExpr::Select(select) => self.select(select, parent, &[]),
            SetExpr::Query(query) => self.query(query, parent),
            SetExpr::SetOperation { left, right, .. } => {
                let outputs = self.set_expr(left, parent);
                self.set_expr(right, parent);
                outputs
            }
            SetExpr::Values(values) => {
                let scope = Scope::new(parent);
                self.exprs(values, &scope, &[]);
                Rc::new(Outputs {
                    opaque: true,
                    ..Outputs::default()
                })
            }
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement)
            | SetExpr::Merge(statement) => {
                self.statement(statement);
                Rc::new(Outputs {
                    opaque: true,
                    ..Outputs::default()
                })
            }
            SetExpr::Table(_) => Rc::new(Outputs::default()),
        }
    }

    fn cte(&self, name: &str) -> Option<Rc<Outputs<'s>>> {
        self.ctes
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, o)| o.clone())
    }

    /// Adds the sources of a FROM item to `scope`; a lateral item's
    /// arguments (UNNEST's array, FLATTEN's input) see the sources before it.
    fn factor(&mut self, factor: &TableFactor, scope: &mut Scope<'_, 's>) {
        self.factor_lateral(factor, scope, false);
    }

    /// `apply`: joined by CROSS / OUTER APPLY, which makes it lateral.
    fn factor_lateral(&mut self, factor: &TableFactor, scope: &mut Scope<'_, 's>, apply: bool) {
        let function = |alias: &Option<TableAlias>, fixed: &[&str]| {
            let mut names: Vec<String> = fixed.iter().map(|n| n.to_string()).collect();
            if let Some(alias) = alias {
                names.push(alias.name.value.to_lowercase());
                names.extend(alias.columns.iter().map(|c| c.name.value.to_lowercase()));
            }
            names
        };
        let alias_of = |alias: &Option<TableAlias>| {
            alias
                .as_ref()
                .map_or(String::new(), |a| a.name.value.to_lowercase())
        };
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } => {
                self.exprs(&args.args, scope, &[]);
                let provides = table_function(name, alias, self.dialect);
                scope.sources.push(Source {
                    hidden: false,
                    alias: alias_of(alias),
                    table: None,
                    provides,
                });
            }
            TableFactor::Table { name, alias, .. } => {
                let provides = self.table(name);
                let table = match &provides {
                    Provides::Table { name, .. } => Some(name.to_lowercase()),
                    _ => None,
                };
                let parts = object_name(name, self.dialect);
                let last = parts.last().cloned().unwrap_or_default();
                let provides = match alias {
                    Some(a) if !a.columns.is_empty() => match provides {
                        Provides::Derived(outputs) => Provides::Derived(renamed(outputs, a)),
                        other => other,
                    },
                    _ => provides,
                };
                scope.sources.push(Source {
                    hidden: false,
                    alias: alias
                        .as_ref()
                        .map_or(last, |a| a.name.value.clone())
                        .to_lowercase(),
                    table,
                    provides,
                });
            }
            TableFactor::Derived {
                subquery,
                alias,
                lateral,
                ..
            } => {
                // A LATERAL subquery sees the sources before it.
                let outputs = if *lateral || apply {
                    self.query(subquery, Some(&*scope))
                } else {
                    self.query(subquery, scope.parent)
                };
                let outputs = match alias {
                    Some(a) => renamed(outputs, a),
                    None => outputs,
                };
                scope.sources.push(Source {
                    hidden: false,
                    alias: alias_of(alias),
                    table: None,
                    provides: Provides::Derived(outputs),
                });
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                self.exprs(args, scope, &[]);
                let provides = table_function(name, alias, self.dialect);
                scope.sources.push(Source {
                    hidden: false,
                    alias: alias_of(alias),
                    table: None,
                    provides,
                });
            }
            TableFactor::TableFunction { expr, alias } => {
                self.exprs(expr, scope, &[]);
                // TABLE(FLATTEN(…)), TABLE(RESULT_SCAN(…)).
                let provides = match expr {
                    Expr::Function(f) => table_function(&f.name, alias, self.dialect),
                    _ => Provides::Function {
                        names: function(alias, &[]),
                        open: true,
                    },
                };
                scope.sources.push(Source {
                    hidden: false,
                    alias: alias_of(alias),
                    table: None,
                    provides,
                });
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset_alias,
                ..
            } => {
                self.exprs(array_exprs, scope, &[]);
                let mut names = function(alias, &["offset"]);
                names.extend(with_offset_alias.iter().map(|a| a.value.to_lowercase()));
                scope.sources.push(Source {
                    hidden: false,
                    alias: alias_of(alias),
                    table: None,
                    provides: Provides::Function {
                        names,
                        open: alias.is_none(),
                    },
                });
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins, scope),
            TableFactor::Pivot { table, .. }
            | TableFactor::Unpivot { table, .. }
            | TableFactor::MatchRecognize { table, .. } => {
                self.factor(table, scope);
                let mut inner = Scope::new(scope.parent);
                if let Some(last) = scope.sources.pop() {
                    inner.sources.push(last);
                }
                match factor {
                    TableFactor::Pivot {
                        aggregate_functions,
                        value_column,
                        ..
                    } => {
                        self.exprs(aggregate_functions, &inner, &[]);
                        self.exprs(value_column, &inner, &[]);
                    }
                    TableFactor::Unpivot { columns, .. } => self.exprs(columns, &inner, &[]),
                    TableFactor::MatchRecognize {
                        partition_by,
                        order_by,
                        ..
                    } => {
                        self.exprs(partition_by, &inner, &[]);
                        self.exprs(order_by, &inner, &[]);
                    }
                    _ => {}
                }
                // What a pivot outputs is new names: opaque from outside.
                scope.sources.push(Source {
                    hidden: false,
                    alias: String::new(),
                    table: None,
                    provides: Provides::Derived(Rc::new(Outputs {
                        opaque: true,
                        ..Outputs::default()
                    })),
                });
            }
            _ => {}
        }
    }

    fn table_with_joins(&mut self, item: &TableWithJoins, scope: &mut Scope<'_, 's>) {
        self.factor(&item.relation, scope);
        for join in &item.joins {
            let before = scope.sources.len();
            let apply = matches!(
                join.join_operator,
                JoinOperator::CrossApply | JoinOperator::OuterApply
            );
            self.factor_lateral(&join.relation, scope, apply);
            if let Some(JoinConstraint::Using(columns)) = join_constraint(&join.join_operator) {
                // USING (c): c of the joined item and of the one left of it.
                for column in columns {
                    let parts = object_name(column, self.dialect);
                    let Some(name) = parts.last() else { continue };
                    let lower = name.to_lowercase();
                    let sides = [
                        &scope.sources[..before],
                        &scope.sources[before.min(scope.sources.len())..],
                    ];
                    for side in sides {
                        let found = match among(side.iter().map(|s| &s.provides), name, &lower) {
                            Owner::Yes(found) | Owner::Maybe(found) => found.into_column(),
                            Owner::No => None,
                        };
                        if let Some(found) = found {
                            self.columns.insert(found);
                        }
                    }
                }
            }
        }
    }

    fn select(
        &mut self,
        select: &Select,
        parent: Option<&Scope<'_, 's>>,
        order_by: &[datafusion::sql::sqlparser::ast::OrderByExpr],
    ) -> Rc<Outputs<'s>> {
        let mut scope = Scope::new(parent);
        for item in &select.from {
            self.table_with_joins(item, &mut scope);
        }
        for view in &select.lateral_views {
            self.exprs(&view.lateral_view, &scope, &[]);
            let mut names: Vec<String> = view
                .lateral_col_alias
                .iter()
                .map(|a| a.value.to_lowercase())
                .collect();
            let alias = object_name(&view.lateral_view_name, self.dialect)
                .pop()
                .unwrap_or_default()
                .to_lowercase();
            names.push(alias.clone());
            scope.sources.push(Source {
                hidden: false,
                alias,
                table: None,
                provides: Provides::Function { names, open: false },
            });
        }
        let aliases: Vec<String> = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
                _ => None,
            })
            .collect();
        self.exprs(&select.projection, &scope, &[]);
        self.exprs(&select.top, &scope, &[]);
        self.exprs(&select.prewhere, &scope, &[]);
        self.exprs(&select.selection, &scope, &[]);
        self.join_conditions(select.from.iter(), &scope);
        self.exprs(&select.connect_by, &scope, &[]);
        self.exprs(&select.named_window, &scope, &[]);
        // Clauses that may name an output instead of a column.
        self.exprs(&select.group_by, &scope, &aliases);
        self.exprs(&select.having, &scope, &aliases);
        self.exprs(&select.qualify, &scope, &aliases);
        self.exprs(order_by, &scope, &aliases);
        self.exprs(&select.sort_by, &scope, &aliases);
        self.exprs(&select.cluster_by, &scope, &aliases);
        self.exprs(&select.distribute_by, &scope, &aliases);
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
                        _ => passes
                            .as_ref()
                            .and_then(|p| p.last())
                            .map(|n| n.to_string()),
                    };
                    let name = name.or_else(|| output_name(expr));
                    if let Some(name) = name {
                        let resolved = passes.and_then(|p| scope.resolve(&p, self.dialect));
                        outputs.columns.push((name.to_lowercase(), resolved));
                    } else {
                        outputs.columns.push((String::new(), None));
                    }
                }
                SelectItem::Wildcard(_) => {
                    outputs
                        .star
                        .extend(scope.sources.iter().map(|s| s.provides.clone()));
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) => {
                    let parts = object_name(n, self.dialect);
                    if let Some(source) = scope.find(&parts) {
                        outputs.star.push(source.provides.clone());
                    }
                }
                _ => {}
            }
        }
        Rc::new(outputs)
    }

    /// The ON conditions of FROM items' joins, also inside parenthesized
    /// joins.
    fn join_conditions<'i>(
        &mut self,
        items: impl Iterator<Item = &'i TableWithJoins>,
        scope: &Scope<'_, 's>,
    ) {
        for item in items {
            self.nested_join_conditions(&item.relation, scope);
            for join in &item.joins {
                if let Some(JoinConstraint::On(on)) = join_constraint(&join.join_operator) {
                    self.exprs(on, scope, &[]);
                }
                self.nested_join_conditions(&join.relation, scope);
            }
        }
    }

    fn nested_join_conditions(&mut self, factor: &TableFactor, scope: &Scope<'_, 's>) {
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = factor
        {
            self.join_conditions(std::iter::once(table_with_joins.as_ref()), scope);
        }
    }
}

/// The statements of Redshift's `UNLOAD ('query')`: the query is a string
/// literal, as the tokenizer left it (quotes doubled).
pub(super) fn unload_statements(text: &str, dialect: SqlDialect) -> Vec<Statement> {
    Parser::new(dialect.parser_dialect().as_ref())
        .try_with_sql(&text.replace("''", "'"))
        .and_then(|mut p| p.parse_statements())
        .unwrap_or_default()
}

/// A table function in FROM: FLATTEN's outputs are known; any other's
/// are not (it may output any name, none a table column).
fn table_function<'s>(
    name: &ObjectName,
    alias: &Option<TableAlias>,
    dialect: SqlDialect,
) -> Provides<'s> {
    let last = object_name(name, dialect)
        .pop()
        .unwrap_or_default()
        .to_lowercase();
    let flatten = last == "flatten";
    let mut names: Vec<String> = if flatten {
        FLATTEN_OUTPUTS.iter().map(|n| n.to_string()).collect()
    } else {
        Vec::new()
    };
    if let Some(alias) = alias {
        names.push(alias.name.value.to_lowercase());
        names.extend(alias.columns.iter().map(|c| c.name.value.to_lowercase()));
    }
    let open = !flatten && alias.as_ref().is_none_or(|a| a.columns.is_empty());
    Provides::Function { names, open }
}

/// The name an unaliased projection item gets where it is not a plain
/// column (a struct field access keeps the field's name).
fn output_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
            Some(datafusion::sql::sqlparser::ast::AccessExpr::Dot(Expr::Identifier(i))) => {
                Some(i.value.clone())
            }
            _ => None,
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => output_name(expr).or(match expr.as_ref() {
            Expr::Identifier(i) => Some(i.value.clone()),
            Expr::CompoundIdentifier(is) => is.last().map(|i| i.value.clone()),
            _ => None,
        }),
        _ => None,
    }
}

/// A derived table or CTE's outputs under the column names its alias
/// gives (`AS d(a, b)`), by position.
fn renamed<'s>(outputs: Rc<Outputs<'s>>, alias: &TableAlias) -> Rc<Outputs<'s>> {
    if alias.columns.is_empty() {
        return outputs;
    }
    let columns = alias
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let base = outputs.columns.get(i).and_then(|(_, base)| base.clone());
            (c.name.value.to_lowercase(), base)
        })
        .collect();
    Rc::new(Outputs {
        columns,
        star: Vec::new(),
        opaque: outputs.opaque,
    })
}

fn join_constraint(operator: &JoinOperator) -> Option<&JoinConstraint> {
    match operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        JoinOperator::AsOf { constraint, .. } => Some(constraint),
        _ => None,
    }
}
