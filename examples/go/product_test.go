package product

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	cforchv1 "github.com/cf-orch/cf-orch/gen/go/cforch/v1"
)

const config = `host: 127.0.0.1
port: 0
gpus:
  - node: local
    index: 0
    name: NVIDIA GeForce RTX 4090
    capacity_mb: 24576
  - node: local
    index: 1
    name: NVIDIA GeForce RTX 4060
    capacity_mb: 8192
`

// startCoordinator runs the real `cf-orch coordinator` on a free loopback port.
func startCoordinator(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("../..")
	cmd := exec.Command("node", filepath.Join(root, "bin", "cf-orch.js"), "coordinator", "--config", path, "--port", "0")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CF_ORCH_DATA_DIR="+filepath.Join(dir, "data"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`http://127\.0\.0\.1:(\d+)`)
		scanner := bufio.NewScanner(out)
		for scanner.Scan() {
			if m := re.FindStringSubmatch(scanner.Text()); m != nil {
				select {
				case found <- "127.0.0.1:" + m[1]:
				default:
				}
			}
		}
	}()
	select {
	case target := <-found:
		return target
	case <-time.After(30 * time.Second):
		t.Fatal("coordinator did not start within 30s")
		return ""
	}
}

func status(t *testing.T, c *Client) *cforchv1.GetStatusResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cforchv1.NewClusterServiceClient(c.conn).GetStatus(ctx, &cforchv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAcquireKeepAliveRelease(t *testing.T) {
	client, err := Dial(startCoordinator(t))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	slot := &cforchv1.Slot{Service: "go-test", TaskType: "demo", VramMb: 6000}
	var held *cforchv1.Lease
	err = client.WithLease(ctx, "go-req-1", slot, 1500*time.Millisecond, func(ctx context.Context, lease *cforchv1.Lease) error {
		held = lease
		time.Sleep(2500 * time.Millisecond) // past the TTL: only keep-alives hold it
		leases := status(t, client).GetLeases()
		if len(leases) != 1 || leases[0].GetLeaseId() != lease.GetLeaseId() {
			t.Errorf("lease not held after its TTL: %v", leases)
		}
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if held.GetVramMb() != 6000 || held.GetFencingToken() == 0 {
		t.Errorf("unexpected lease %v", held)
	}
	if n := len(status(t, client).GetLeases()); n != 0 {
		t.Errorf("%d leases left after WithLease returned", n)
	}
	again, err := client.Release(ctx, held)
	if err != nil || again.GetReleased() || !again.GetAlreadyReleased() {
		t.Errorf("second release: %v %v", again, err)
	}
}

func TestContendingLeasesRunOneAfterTheOther(t *testing.T) {
	target := startCoordinator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var log []string
	var wg sync.WaitGroup
	queued := make(chan struct{}, 16)
	for i, name := range []string{"first", "second"} {
		client, err := Dial(target)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		client.OnQueued = func(*cforchv1.QueueStatus) { queued <- struct{}{} }
		if i == 1 {
			<-started(&mu, &log) // the second asks only once the first holds the GPU
		}
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			slot := &cforchv1.Slot{Service: "go-" + name, VramMb: 20000}
			err := client.WithLease(ctx, "go-"+name, slot, 30*time.Second, func(ctx context.Context, _ *cforchv1.Lease) error {
				mu.Lock()
				log = append(log, name+" start")
				mu.Unlock()
				if name == "first" {
					select { // hold until the second is seen waiting in line
					case <-queued:
					case <-ctx.Done():
					}
				}
				mu.Lock()
				log = append(log, name+" end")
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}(name)
	}
	wg.Wait()
	want := []string{"first start", "first end", "second start", "second end"}
	if len(log) != len(want) {
		t.Fatalf("log %v, want %v", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("log %v, want %v", log, want)
		}
	}
}

// started returns a channel closed once the log has its first entry.
func started(mu *sync.Mutex, log *[]string) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for i := 0; i < 3000; i++ {
			mu.Lock()
			n := len(*log)
			mu.Unlock()
			if n > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return ch
}
