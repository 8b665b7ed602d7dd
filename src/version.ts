// The package's version, for `version` in the API and `macrobox --version`; a test keeps it equal
// to package.json's. Browser-safe.
export const version = "0.1.0";
