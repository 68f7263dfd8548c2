package state

import (
	"path/filepath"
	"testing"
)

// TestReplayAllCaptures replays every shared capture: no panic, sensible table sizes, and the
// counters agree with the tables.
func TestReplayAllCaptures(t *testing.T) {
	s := sharedDir(t)
	files, _ := filepath.Glob(filepath.Join(s, "captures", "*.scap"))
	if len(files) < 10 {
		t.Fatalf("expected the shared captures, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var events, needThread, withThread uint64
			e := replay(t, f, Options{}, func(e *Engine, ctx *Context) {
				events++
				if ctx.Ev.Info.Name != "switch" && !codes[ctx.Ev.Type].skip && !(ctx.Ev.Info.Name == "procexit") {
					needThread++
				} else {
					return
				}
				if ctx.Thread != nil {
					withThread++
					if ctx.Thread.Main() == nil {
						t.Fatal("nil main thread")
					}
				}
				if ctx.FD != nil && ctx.FDNum != ctx.FD.Num {
					t.Fatalf("evt %d: context fd number %d but fd %d", ctx.Ev.Num, ctx.FDNum, ctx.FD.Num)
				}
			})
			st := e.Stats()
			t.Logf("%d events, %+v", events, st)
			if st.Events != events || events == 0 {
				t.Errorf("Stats().Events = %d, replayed %d", st.Events, events)
			}
			if st.Threads < 20 || st.FDs < 100 || st.Users == 0 || st.Groups == 0 {
				t.Errorf("tables look too small: %+v", st)
			}
			if st.ThreadsEvicted+st.FDsEvicted+st.UsersEvicted != 0 || st.FDsWithoutThread != 0 {
				t.Errorf("unexpected evictions or orphan fds: %+v", st)
			}
			if withThread != needThread {
				t.Errorf("only %d of %d events (not switch, procexit or meta) have a thread", withThread, needThread)
			}
			if st.Threads != int(st.ThreadsAdded-st.ThreadsRemoved-st.ThreadsEvicted) &&
				st.Threads > int(st.ThreadsAdded) {
				t.Errorf("thread counters disagree: %+v", st)
			}
		})
	}
}

// TestCaptureFacts checks facts printed by Debian's sysdig 0.29.3 for these captures (e.g.
// `sysdig -r open-multiple-files.scap -p '%evt.num %proc.name …' evt.num=1136`), so that they
// hold without sysdig installed.
func TestCaptureFacts(t *testing.T) {
	s := sharedDir(t)
	type fact struct {
		num                                     uint64
		name, pname, cmdline, cwd, user, aname2 string
		fdnum                                   int64
		fdname, fdtype                          string
	}
	facts := map[string][]fact{
		"open-multiple-files.scap": {
			{num: 1096, name: "python", pname: "bash", cmdline: "python open.py", cwd: "/mnt/sf_mstemm/work/src/falco/test/", user: "mstemm", aname2: "emacs", fdnum: -1},
			{num: 1136, name: "python", pname: "bash", cmdline: "python open.py", cwd: "/mnt/sf_mstemm/work/src/falco/test/", user: "mstemm", aname2: "emacs", fdnum: 4, fdname: "/tmp/file-6", fdtype: "file"},
			{num: 1176, name: "python", fdnum: 3, fdname: "/tmp/file-13", fdtype: "file"},
		},
		"curl_google.scap": {
			{num: 1055, name: "curl", pname: "curl", fdnum: 4, fdname: "", fdtype: "unix"},
			{num: 1189, name: "curl", fdnum: 4, fdname: "2600:1f18:262c:6542:9aa6:df7a:9a47:d29e:40251->2001:4860:4860::8888:53", fdtype: "ipv6"},
			{num: 1273, name: "curl", cmdline: "curl -6 http://www.google.com", aname2: "sshd", fdnum: 4, fdname: "2600:1f18:262c:6542:9aa6:df7a:9a47:d29e:37140->2607:f8b0:4004:802::2004:80", fdtype: "ipv6"},
		},
		"cat_write.scap": {
			{num: 131, name: "cat", pname: "bash", cmdline: "cat /dev/null", aname2: "emacs", fdnum: -1},
		},
		"test_ipv6_client.scap": {
			{num: 229, name: "test_ipv6_clien", fdnum: 3, fdname: "::1:38255->::1:2345", fdtype: "ipv6"},
		},
	}
	for file, fs := range facts {
		want := map[uint64]fact{}
		for _, f := range fs {
			want[f.num] = f
		}
		seen := 0
		replay(t, filepath.Join(s, "captures", file), Options{}, func(e *Engine, ctx *Context) {
			w, ok := want[ctx.Ev.Num]
			if !ok {
				return
			}
			seen++
			got := ourFields(e, ctx)
			at := file + " evt " + w.name
			chk := func(field, g, wv string) {
				if wv != "" && g != wv {
					t.Errorf("%s %d %s = %q, want %q", at, w.num, field, g, wv)
				}
			}
			chk("proc.name", got[6], w.name)
			chk("proc.pname", got[7], w.pname)
			chk("proc.cmdline", got[8], w.cmdline)
			chk("proc.cwd", got[9], w.cwd)
			chk("proc.aname[2]", got[10], w.aname2)
			chk("user.name", got[12], w.user)
			if w.fdnum >= 0 {
				chk("fd.num", got[14], itoa(w.fdnum))
				if got[16] != w.fdname {
					t.Errorf("%s %d fd.name = %q, want %q", at, w.num, got[16], w.fdname)
				}
				chk("fd.type", got[15], w.fdtype)
			}
		})
		if seen != len(fs) {
			t.Errorf("%s: saw %d of the %d events", file, seen, len(fs))
		}
	}
}

func itoa(n int64) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
