package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// A job record is a small hand-rolled binary format, not JSON. At a million
// jobs the record is what fills the file and what Claim, Save and Prune decode:
// the binary form is about half the size of even short-named JSON (integers
// and times are varints, absent fields cost one byte), decoding needs no
// reflection, and Meta, already JSON, is kept as raw bytes instead of being
// escaped again. The leading version byte lets a later build still read the
// records this one writes, and this one still reads the records of the
// versions before.
//
// Version 3, in order:
//
//	version     byte (3)
//	Source      string
//	Path        string
//	Size        varint
//	ModTime     time
//	Created     time
//	Updated     time - Created
//	NextAttempt time - Created
//	SHA256      string
//	Kind, Lane  byte: Kind in the low 4 bits, Lane in the high 4 bits
//	State       byte
//	Attempts    uvarint
//	LastError   string
//	Reason      string
//	Meta        string
//	Spool       string
//	Presign     byte 0 (none) or 1, then URL string, uvarint count,
//	            count*(Name, Value string), Expires time
//	Parent      uvarint
//	Warnings    uvarint count, count*string
//	Ref         string
//
// A string is a uvarint length and the bytes; a time is the varint of
// [nanos]. Updated and NextAttempt are stored as differences from Created
// (wrapping int64 arithmetic, so any value round-trips): a new job's are 0,
// one byte each instead of nine. The ID is the record's key and is not
// repeated inside it. Nothing may follow the last field.
//
// Version 2 is version 3 without Warnings and Ref. A job with neither (most
// jobs) is still written in version 2, two bytes shorter.
// Version 1, written by schema 1, is version 2 without Lane (its Kind byte
// is the kind alone): such a job is in its kind's lane, [Kind.Lane], which
// is where schema 1 kept it.
// Records are rewritten in version 3 as jobs change, never all at once.
const (
	recordV1 = 1
	recordV2 = 2
	recordV3 = 3
)

// ErrCorrupt is wrapped by every error about a record or index entry that
// cannot be read back.
var ErrCorrupt = errors.New("corrupt record")

// nanos is the on-disk form of a time: Unix nanoseconds, with 0 for the zero
// time. Times outside the years 1678 to 2262 cannot be represented; the
// instant of the Unix epoch itself reads back as the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// encodeJob returns the record of j.
func encodeJob(j *Job) []byte {
	b := make([]byte, 0, 64+len(j.Source)+len(j.Path)+len(j.SHA256)+len(j.LastError)+
		len(j.Reason)+len(j.Meta)+len(j.Spool)+len(j.Ref))
	created := nanos(j.Created)
	v := byte(recordV3)
	if len(j.Warnings) == 0 && j.Ref == "" {
		v = recordV2
	}
	b = append(b, v)
	b = appendString(b, j.Source)
	b = appendString(b, j.Path)
	b = binary.AppendVarint(b, j.Size)
	b = binary.AppendVarint(b, nanos(j.ModTime))
	b = binary.AppendVarint(b, created)
	b = binary.AppendVarint(b, nanos(j.Updated)-created)
	b = binary.AppendVarint(b, nanos(j.NextAttempt)-created)
	b = appendString(b, j.SHA256)
	b = append(b, byte(j.Kind)&0x0f|byte(j.Lane)<<4, byte(j.State))
	b = binary.AppendUvarint(b, uint64(j.Attempts))
	b = appendString(b, j.LastError)
	b = appendString(b, j.Reason)
	b = appendString(b, string(j.Meta))
	b = appendString(b, j.Spool)
	if p := j.Presign; p == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, p.URL)
		b = binary.AppendUvarint(b, uint64(len(p.Fields)))
		for _, f := range p.Fields {
			b = appendString(b, f.Name)
			b = appendString(b, f.Value)
		}
		b = binary.AppendVarint(b, nanos(p.Expires))
	}
	b = binary.AppendUvarint(b, j.Parent)
	if v == recordV2 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(j.Warnings)))
	for _, w := range j.Warnings {
		b = appendString(b, w)
	}
	b = appendString(b, j.Ref)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeJob decodes the record b of job id. It copies what it keeps, so b
// may be memory that bbolt reclaims when the transaction ends. Any damage is
// reported as an error wrapping ErrCorrupt, never a panic.
func decodeJob(id uint64, b []byte) (*Job, error) {
	d := decoder{b: b}
	v := d.byte()
	if (v < recordV1 || v > recordV3) && d.err == nil {
		return nil, fmt.Errorf("%w: unknown record version %d", ErrCorrupt, v)
	}
	j := &Job{ID: id}
	j.Source = d.string()
	j.Path = d.string()
	j.Size = d.varint()
	j.ModTime = d.time()
	created := d.varint()
	j.Created = fromNanos(created)
	j.Updated = fromNanos(created + d.varint())
	j.NextAttempt = fromNanos(created + d.varint())
	j.SHA256 = d.string()
	kl := d.byte()
	if v == recordV1 {
		j.Kind = Kind(kl)
		j.Lane = j.Kind.Lane()
	} else {
		j.Kind, j.Lane = Kind(kl&0x0f), Lane(kl>>4)
	}
	j.State = State(d.byte())
	j.Attempts = d.int()
	j.LastError = d.string()
	j.Reason = d.string()
	if m := d.bytes(); len(m) > 0 {
		j.Meta = append([]byte(nil), m...)
	}
	j.Spool = d.string()
	switch d.byte() {
	case 0:
	case 1:
		p := &Presign{URL: d.string()}
		// Each field takes at least two bytes: bound the count by what is
		// left, so a damaged count cannot ask for a huge allocation.
		if n := d.uvarint(); n > 0 && d.err == nil {
			if n > uint64(len(d.b)/2) {
				d.fail("presign field count %d exceeds the record", n)
			} else {
				p.Fields = make([]Field, n)
				for i := range p.Fields {
					p.Fields[i] = Field{Name: d.string(), Value: d.string()}
				}
			}
		}
		p.Expires = d.time()
		j.Presign = p
	default:
		d.fail("bad presign marker")
	}
	j.Parent = d.uvarint()
	if v >= recordV3 {
		// Each warning takes at least one byte: bound the count as above.
		if n := d.uvarint(); n > 0 && d.err == nil {
			if n > uint64(len(d.b)) {
				d.fail("warning count %d exceeds the record", n)
			} else {
				j.Warnings = make([]string, n)
				for i := range j.Warnings {
					j.Warnings[i] = d.string()
				}
			}
		}
		j.Ref = d.string()
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the last field", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := j.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return j, nil
}

// decoder reads the fields of a record. The first failure sticks: later
// reads return zero values, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.fail("count %d out of range", v)
		return 0
	}
	return int(v)
}

func (d *decoder) time() time.Time { return fromNanos(d.varint()) }

// bytes returns the next length-prefixed field, aliasing the record.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("field of %d bytes exceeds the record", n)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

// A gate record is a version byte (1), Reason as a string and Since as a
// time, encoded as in a job record. The gate's name is the key.
const gateV1 = 1

func encodeGate(g Gate) []byte {
	b := append(make([]byte, 0, 12+len(g.Reason)), gateV1)
	b = appendString(b, g.Reason)
	return binary.AppendVarint(b, nanos(g.Since))
}

func decodeGate(name string, b []byte) (Gate, error) {
	d := decoder{b: b}
	if v := d.byte(); v != gateV1 && d.err == nil {
		return Gate{}, fmt.Errorf("%w: unknown gate record version %d", ErrCorrupt, v)
	}
	g := Gate{Name: name, Reason: d.string(), Since: d.time()}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the last field", len(d.b))
	}
	return g, d.err
}
