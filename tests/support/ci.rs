//! Whether a test runs in CI, where a missing tool fails the run.

/// `CI` set to anything but empty, `0` or `false` (`true`, `1`, `True`…):
/// a missing tool fails the test instead of skipping it.
pub fn on_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}
