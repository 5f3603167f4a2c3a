// Package meta builds the metadata Vela stores with each call.
package meta

import (
	"time"
	_ "time/tzdata" // Windows has no zoneinfo of its own.
)

// DateLayout is the only date_of_call format Vela reads correctly:
// DD/MM/YYYY, HH:mm:ss. ISO dates are not read (the call is dated at upload
// time), year-first dates are stored wrongly, and month-first dates with a day
// of 12 or less are read day-first, all without an error.
const DateLayout = "02/01/2006, 15:04:05"

// velaZone is the zone Vela interprets date_of_call in.
var velaZone = mustZone("Africa/Johannesburg")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// time/tzdata is linked in, so this cannot fail at run time.
		panic("meta: load zone " + name + ": " + err.Error())
	}
	return loc
}

// FormatDate renders t as a date_of_call in Vela's format and zone.
func FormatDate(t time.Time) string {
	return t.In(velaZone).Format(DateLayout)
}
