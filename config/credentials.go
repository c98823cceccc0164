package config

import (
	"fmt"
	"strings"
)

// CredentialsDirectoryVar is the environment variable systemd sets to the directory
// holding the unit's credentials (LoadCredential=, LoadCredentialEncrypted=). A file
// path of the configuration may start with $CREDENTIALS_DIRECTORY or
// ${CREDENTIALS_DIRECTORY}, e.g.
//
//	store:
//	  key_file: ${CREDENTIALS_DIRECTORY}/store_key
//
// so the configuration file itself holds no secret and can be world-readable, while the
// secrets stay in root-only files that systemd hands to the (dynamic) service user.
// Elsewhere (a container) the variable can be set to any directory, e.g. /run/secrets.
const CredentialsDirectoryVar = "CREDENTIALS_DIRECTORY"

// filePath is a file path field of the configuration with its YAML path.
type filePath struct {
	path string
	p    *string
}

// filePaths lists every file path of c except the store's.
func (c *Config) filePaths() []filePath {
	var out []filePath
	for _, r := range c.secrets() {
		out = append(out, filePath{r.path + "_file", r.file})
	}
	for i := range c.Sip.Listen {
		l := &c.Sip.Listen[i]
		out = append(out, filePath{fmt.Sprintf("sip.listen[%d].cert_file", i), &l.CertFile},
			filePath{fmt.Sprintf("sip.listen[%d].key_file", i), &l.KeyFile})
	}
	out = append(out, filePath{"sip.ca_file", &c.Sip.CAFile})
	for i := range c.Trunks {
		out = append(out, filePath{fmt.Sprintf("trunks[%d].ca_file", i), &c.Trunks[i].CAFile})
	}
	return out
}

// expandCredentials replaces a leading $CREDENTIALS_DIRECTORY / ${CREDENTIALS_DIRECTORY}
// of every file path by the variable's value. A path using it while it is unset or
// empty is a field error; those paths are returned so their files are not read.
func (c *Config) expandCredentials(lookupEnv func(string) (string, bool)) (map[*string]bool, error) {
	var p problems
	failed := map[*string]bool{}
	for _, f := range c.filePaths() {
		rest, ok := credentialsRelative(*f.p)
		if !ok {
			continue
		}
		dir, set := lookupEnv(CredentialsDirectoryVar)
		if !set || dir == "" {
			p.add(f.path, "%s uses $%s, which is not set (systemd sets it for a unit with LoadCredential=)",
				*f.p, CredentialsDirectoryVar)
			failed[f.p] = true
			continue
		}
		*f.p = strings.TrimRight(dir, "/") + rest
	}
	return failed, p.err()
}

// credentialsRelative returns what follows a leading $CREDENTIALS_DIRECTORY or
// ${CREDENTIALS_DIRECTORY} (empty or starting with "/").
func credentialsRelative(s string) (string, bool) {
	for _, pre := range []string{"${" + CredentialsDirectoryVar + "}", "$" + CredentialsDirectoryVar} {
		if rest, ok := strings.CutPrefix(s, pre); ok && (rest == "" || rest[0] == '/') {
			return rest, true
		}
	}
	return "", false
}
