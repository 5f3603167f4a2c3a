package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const secretValue = "s3cr3t-t0k3n"

func TestSecretNeverPrinted(t *testing.T) {
	c, err := Parse("", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	c.API.RefreshToken = secretValue // not a valid config, but a second place to hide it
	var outputs []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%d"} {
		outputs = append(outputs,
			fmt.Sprintf(format, c.API.Token),
			fmt.Sprintf(format, c.API),
			fmt.Sprintf(format, c),
			fmt.Sprintf(format, *c),
		)
	}
	outputs = append(outputs, c.API.Token.String(), c.API.Token.GoString(), fmt.Sprint(c.API.Token), fmt.Sprintln(c.API))
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("config", "token", c.API.Token, "api", c.API, "config", c)
		outputs = append(outputs, buf.String())
	}
	for _, out := range outputs {
		if strings.Contains(out, secretValue) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if got := fmt.Sprint(c.API.Token); got != "[redacted]" {
		t.Errorf("Sprint(secret) = %q, want [redacted]", got)
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("Sprint(empty secret) = %q, want empty", got)
	}
	if c.API.Token.Reveal() != secretValue {
		t.Errorf("Reveal() = %q", c.API.Token.Reveal())
	}
}

// TestSecretNotInErrors checks the messages of configurations that hold a
// secret in the wrong place.
func TestSecretNotInErrors(t *testing.T) {
	for _, yaml := range []string{
		"api:\n  org_id: o\n  token: [" + secretValue + "]\nsources: [{name: a, path: /a}]\n",
		"api:\n  org_id: o\n  token: {" + secretValue + ": 1}\nsources: [{name: a, path: /a}]\n",
		"api:\n  org_id: o\n  token: " + secretValue + "${X\nsources: [{name: a, path: /a}]\n",
		"api:\n  org_id: o\n  token: \"" + secretValue + "\n",
		"api:\n  org_id: o\n  token: " + secretValue + "\n  refresh_token: " + secretValue + "\n",
		"api:\n  org_id: o\n\ttoken: " + secretValue + "\n",
		"api:\n  org_id: o\n  token: '" + secretValue + "'x\n",
	} {
		_, err := Parse("", []byte(yaml))
		if err == nil {
			t.Errorf("Parse(%q) succeeded", yaml)
			continue
		}
		if strings.Contains(err.Error(), secretValue) {
			t.Errorf("error holds the secret: %v", err)
		}
	}
}
