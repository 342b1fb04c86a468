// TEMPORARY placeholder until the generator lands (being written in parallel).
use chrono::NaiveDate;
#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    pub seed: u64,
    pub events: u64,
    pub days: u32,
    pub end_date: NaiveDate,
    pub domains: usize,
    pub malformed_per_million: u32,
}
impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            events: 200_000,
            days: 45,
            end_date: chrono::Utc::now().date_naive(),
            domains: 5,
            malformed_per_million: 200,
        }
    }
}
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratedSummary {
    pub files: usize,
    pub lines: u64,
    pub pages: u64,
    pub tracks: u64,
    pub identifies: u64,
    pub malformed: u64,
    pub late: u64,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
}
pub fn generate(
    _opts: &GeneratorOptions,
    _out_dir: &std::path::Path,
) -> std::io::Result<GeneratedSummary> {
    unimplemented!()
}
