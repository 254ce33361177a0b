package ossr

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestADamagedPartOfAResumedDownloadIsCountedAndFetchedAgain(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	dir := t.TempDir()
	data := pattern(2*1024*1024, 75)
	if _, err := c.PutObject(ctx, bucket, "go/damaged.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "damaged.bin")
	opts := &DownloadOptions{MultigetThreshold: 1, PartSize: 102400, Threads: 1}
	opts.Progress = func(done, total uint64) bool { return done < total/2 }
	if _, err := c.Download(ctx, bucket, "go/damaged.bin", target, opts); !errors.Is(err, ErrCancelled) {
		t.Fatalf("want a cancelled download, got %v", err)
	}
	// The temporary file beside the target holds the recorded parts: spoil the first.
	var temp string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "damaged.bin") && e.Name() != "damaged.bin" {
			temp = filepath.Join(dir, e.Name())
		}
	}
	if temp == "" {
		t.Fatalf("no temporary file in %v", entries)
	}
	f, err := os.OpenFile(temp, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{^data[10]}, 10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	opts.Progress = nil
	rep, err := c.Download(ctx, bucket, "go/damaged.bin", target, opts)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	got, _ := os.ReadFile(target)
	if rep.Checkpoint != CheckpointResumed || rep.PartsDamaged != 1 || !bytes.Equal(got, data) {
		t.Fatalf("resume report %+v; bytes identical: %v", rep, bytes.Equal(got, data))
	}
}
