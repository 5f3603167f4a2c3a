// Package packaging holds what the .deb, .rpm and .msi packages install;
// the systemd unit is embedded so that `vela-agent install` writes the
// same one.
package packaging

import _ "embed"

// SystemdUnit is systemd/vela-agent.service. Its ExecStart line names
// UnitBinary and UnitConfig, where the packages install them.
//
//go:embed systemd/vela-agent.service
var SystemdUnit string

// Where the packages install the binary and the configuration.
const (
	UnitBinary = "/usr/bin/vela-agent"
	UnitConfig = "/etc/vela-agent/vela-agent.yaml"
)
