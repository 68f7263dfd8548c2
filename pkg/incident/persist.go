package incident

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver (pure Go)
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// db is the SQLite file: one row per incident, its JSON in data.
type db struct {
	path string
	sql  *sql.DB
}

const schema = `CREATE TABLE IF NOT EXISTS incidents (
	id TEXT PRIMARY KEY,
	first_ns INTEGER NOT NULL,
	last_ns INTEGER NOT NULL,
	data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_last ON incidents(last_ns);`

// openDB opens path (WAL, so that `saker incidents` reads while the agent writes). readOnly
// does not create the file.
func openDB(path string, readOnly bool) (*db, error) {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("incidents: %w", err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Add("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	d, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("incidents: %s: %w", path, err)
	}
	d.SetMaxOpenConns(1)
	if !readOnly {
		if _, err := d.Exec(schema); err != nil {
			d.Close()
			return nil, fmt.Errorf("incidents: %s: %w", path, err)
		}
		os.Chmod(path, 0o600)
	}
	return &db{path: path, sql: d}, nil
}

func (d *db) close() error { return d.sql.Close() }

// write upserts the incidents and applies the bounds: none whose last step is older than
// maxAge, at most max (the oldest by last step deleted first).
func (d *db) write(batch []*Incident, now time.Time, max int, maxAge time.Duration) error {
	tx, err := d.sql.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT INTO incidents(id, first_ns, last_ns, data) VALUES(?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET first_ns=excluded.first_ns, last_ns=excluded.last_ns, data=excluded.data`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, in := range batch {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		if _, err := st.Exec(in.ID, in.First.UnixNano(), in.Last.UnixNano(), string(data)); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`DELETE FROM incidents WHERE last_ns < ?`, now.Add(-maxAge).UnixNano()); err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM incidents WHERE id IN (SELECT id FROM incidents ORDER BY last_ns DESC, id LIMIT -1 OFFSET ?)`, max); err != nil {
		return err
	}
	return tx.Commit()
}

func (d *db) query(q string, args ...any) ([]*Incident, error) {
	rows, err := d.sql.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("incidents: %s: %w", d.path, err)
	}
	defer rows.Close()
	var out []*Incident
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("incidents: %s: %w", d.path, err)
		}
		in := &Incident{}
		if err := json.Unmarshal([]byte(data), in); err != nil {
			return nil, fmt.Errorf("incidents: %s: incident %s: %v", d.path, id, err)
		}
		in.restored()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("incidents: %s: %w", d.path, err)
	}
	return out, nil
}

// since returns the incidents whose last step is at or after t, oldest first.
func (d *db) since(t time.Time) ([]*Incident, error) {
	return d.query(`SELECT id, data FROM incidents WHERE last_ns >= ? ORDER BY last_ns`, t.UnixNano())
}

// ErrNotFound is Get's error for an id the file does not hold.
var ErrNotFound = errors.New("no such incident")

// List reads every incident of the store file at path, most recent activity first.
func List(path string) ([]*Incident, error) {
	d, err := openDB(path, true)
	if err != nil {
		return nil, err
	}
	defer d.close()
	return d.query(`SELECT id, data FROM incidents ORDER BY last_ns DESC, id`)
}

// Get reads one incident of the store file at path.
func Get(path, id string) (*Incident, error) {
	d, err := openDB(path, true)
	if err != nil {
		return nil, err
	}
	defer d.close()
	l, err := d.query(`SELECT id, data FROM incidents WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("incidents: %s: %w %q", path, ErrNotFound, id)
	}
	return l[0], nil
}
