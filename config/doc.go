// Package config owns the ynagw daemon configuration: the YAML file format (unknown keys
// are errors naming key and line), secrets taken from the file, an environment variable
// or a file (exactly one of `x`, `x_env`, `x_file`), defaults (Init), validation whose
// every error names the field path (Validate, *FieldError), the conversion into the
// configurations of the sip, bridge, yna and rtpmedia packages, and what a SIGHUP reload
// may change (Reloadable).
package config
