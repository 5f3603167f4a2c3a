package agent

import "testing"

// The reasons the agent writes fall into their classes.
func TestReasonClass(t *testing.T) {
	for reason, want := range map[string]string{
		"file is 5000 bytes, over upload.max_file_size (1000 bytes)":    ReasonTooLarge,
		"cannot read the file (3 tries): read a.wav: permission denied": ReasonUnreadable,
		"file no longer exists": ReasonGone,
		"file changed since it was found; the new version is queued":          ReasonChanged,
		"file changed while it was being uploaded; the new version is queued": ReasonChanged,
		"empty file":            ReasonEmpty,
		notFollowed:             ReasonLink,
		"not a regular file":    ReasonLink,
		"forgotten by an admin": ReasonForgotten,
		"presign a.wav: 400 Team not found (Vela refused the metadata)":                    ReasonRefused,
		"upload a.wav to bucket.example: 400 EntityTooLarge: Your proposed upload exceeds": ReasonRefused,
		"something new": ReasonOther,
	} {
		if got := reasonClass(reason); got != want {
			t.Errorf("reasonClass(%q) = %s, want %s", reason, got, want)
		}
	}
}
