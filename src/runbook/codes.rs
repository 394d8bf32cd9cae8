//! Stable diagnostic codes. Documentation, `--format json` consumers and allow-lists refer to
//! these, so a code never changes meaning once shipped.

// The file itself.
pub const FILE_UNREADABLE: &str = "RB001";
pub const EMPTY: &str = "RB002";
pub const NOT_UTF8: &str = "RB003";
pub const TOO_LARGE: &str = "RB004";
pub const YAML_SYNTAX: &str = "RB005";
pub const UNKNOWN_KEY: &str = "RB006";
pub const SHAPE: &str = "RB007";
pub const DUPLICATE_KEY: &str = "RB008";

// The runbook's meaning.
pub const INVALID_NAME: &str = "RB010";
pub const DUPLICATE_NAME: &str = "RB011";
pub const TEMPLATE_SYNTAX: &str = "RB012";
pub const UNDEFINED_VARIABLE: &str = "RB013";
pub const USED_BEFORE_CAPTURE: &str = "RB014";
pub const UNKNOWN_SERVICE: &str = "RB015";
pub const INVALID_JSONPATH: &str = "RB016";
pub const INVALID_REGEX: &str = "RB017";
pub const INVALID_DURATION: &str = "RB018";
pub const STEP_ACTION: &str = "RB019";
pub const HTTP_METHOD: &str = "RB020";
pub const INVALID_STATUS: &str = "RB021";
pub const INVALID_CONDITION: &str = "RB022";
pub const INVALID_CAPTURE: &str = "RB023";
pub const INVALID_URL: &str = "RB024";
pub const DEPENDENCY_CYCLE: &str = "RB025";
pub const INVALID_RETRY: &str = "RB026";
pub const BODY_CONFLICT: &str = "RB027";
pub const INVALID_DEFAULT: &str = "RB028";
pub const NO_STEPS: &str = "RB029";
pub const PROPAGATE: &str = "RB030";
pub const INVALID_ALLOW: &str = "RB031";

// The safety checks (RB1xx) live with their rules in `super::lint`.

// Values supplied when the runbook is planned or run.
pub const MISSING_INPUT: &str = "RB040";
pub const INPUT_PATTERN: &str = "RB041";
pub const INPUT_CHOICE: &str = "RB042";
pub const UNKNOWN_INPUT: &str = "RB043";
pub const SECRET_IN_ARGV: &str = "RB044";
pub const UNKNOWN_SERVICE_OVERRIDE: &str = "RB045";
pub const INPUT_TEMPLATE: &str = "RB046";
