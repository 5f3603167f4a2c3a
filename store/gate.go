package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Gate is a pause that holds back a whole lane, or all of them, rather than
// one job: "calls" when the minute allocation is used up, for instance. The
// agent decides what the names mean; the store persists them so that
// `vela-agent status` can show them while no agent runs.
type Gate struct {
	Name   string    `json:"name"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// SetGate records g, replacing any gate of the same name.
func (s *Store) SetGate(g Gate) error {
	if g.Name == "" {
		return errors.New("set gate: empty name")
	}
	err := s.write(func(tx *bolt.Tx) (int, error) {
		return 0, tx.Bucket(bucketGates).Put([]byte(g.Name), encodeGate(g))
	})
	if err != nil {
		return fmt.Errorf("set gate %s: %w", g.Name, err)
	}
	return nil
}

// ClearGate removes the gate called name. Clearing a gate that is not set
// is not an error, and costs no write.
func (s *Store) ClearGate(name string) error {
	var set bool
	err := s.viewTx(func(tx *bolt.Tx) error {
		set = tx.Bucket(bucketGates).Get([]byte(name)) != nil
		return nil
	})
	if err == nil && set {
		err = s.write(func(tx *bolt.Tx) (int, error) {
			return 0, tx.Bucket(bucketGates).Delete([]byte(name))
		})
	}
	if err != nil {
		return fmt.Errorf("clear gate %s: %w", name, err)
	}
	return nil
}

// Gates returns the gates that are set, by name.
func (s *Store) Gates() ([]Gate, error) {
	var gates []Gate
	err := s.viewTx(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGates).ForEach(func(k, v []byte) error {
			g, err := decodeGate(string(k), v)
			if err != nil {
				return fmt.Errorf("gate %s: %w", k, err)
			}
			gates = append(gates, g)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read gates: %w", err)
	}
	return gates, nil
}
