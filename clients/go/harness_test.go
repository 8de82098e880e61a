package capplan

// The test harness: a real `placement serve` (the repository's .venv entry point) on a free loopback port, over
// SQLite or over a throwaway PostgreSQL database, and a TCP proxy in front of PostgreSQL that a test can stop.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testToken = "go-client-test-token"

// needed skips a test whose tool is missing, except in CI (CI set), where the tests must run.
func needed(t *testing.T, format string, args ...interface{}) {
	t.Helper()
	message := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this test must run)", message)
	}
	t.Skip(message)
}

// placementBinary is the router's entry point: $CAPPLAN_PLACEMENT, or the repository's .venv/bin/placement.
func placementBinary(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("CAPPLAN_PLACEMENT"); path != "" {
		return path
	}
	path, err := filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "placement"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		needed(t, "no router to test against: %s is missing (run `make .venv/.installed`, or set CAPPLAN_PLACEMENT)", path)
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

type liveRouter struct {
	baseURL string
	command *exec.Cmd
	logPath string
}

// startRouter runs `placement serve --db dbURL` until the test ends.
func startRouter(t *testing.T, dbURL string) *liveRouter {
	t.Helper()
	binary := placementBinary(t)
	port := freePort(t)
	logPath := filepath.Join(t.TempDir(), "router.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	command := exec.Command(binary, "serve", "--db", dbURL, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	command.Env = append(os.Environ(), "CAPPLAN_TOKENS="+testToken)
	command.Stdout, command.Stderr = logFile, logFile
	if err := command.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	router := &liveRouter{baseURL: fmt.Sprintf("http://127.0.0.1:%d", port), command: command, logPath: logPath}
	exited := make(chan error, 1)
	go func() { exited <- command.Wait() }()
	t.Cleanup(func() {
		_ = command.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = command.Process.Kill()
			<-exited
		}
		logFile.Close()
	})
	// Start-up imports the engine and migrates the database: allow a loaded machine a minute.
	deadline := time.Now().Add(60 * time.Second)
	for {
		response, err := http.Get(router.baseURL + "/healthz")
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusOK {
				return router
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("router exited (%v): %s", err, router.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("router did not start: %s", router.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *liveRouter) log() string {
	data, _ := os.ReadFile(r.logPath)
	return string(data)
}

// admin makes the operator's calls the client does not offer (adding clusters, snapshots, drains).
func (r *liveRouter) admin(t *testing.T, method, path string, body interface{}) map[string]interface{} {
	t.Helper()
	var payload io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		payload = bytes.NewReader(encoded)
	}
	request, err := http.NewRequest(method, r.baseURL+path, payload)
	if err != nil {
		t.Fatal(err)
	}
	request.Header.Set("Authorization", "Bearer "+testToken)
	request.Header.Set("Content-Type", "application/json")
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer response.Body.Close()
	data, _ := io.ReadAll(response.Body)
	if response.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, response.StatusCode, data)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: %v in %s", method, path, err, data)
	}
	return out
}

// seedFleet adds eu-west-1 and us-east-1, each with a fresh load snapshot.
func (r *liveRouter) seedFleet(t *testing.T) {
	t.Helper()
	for _, cluster := range []struct{ id, region string }{{"eu-west-1", "eu-west"}, {"us-east-1", "us-east"}} {
		r.admin(t, http.MethodPost, "/v1/clusters", map[string]interface{}{
			"id":           cluster.id,
			"name":         strings.ToUpper(cluster.id),
			"region":       cluster.region,
			"task_queue":   "deployer-" + cluster.id,
			"registry_url": "10.0.1.4:5000",
		})
		r.admin(t, http.MethodPut, "/v1/clusters/"+cluster.id+"/load", map[string]interface{}{
			"ctrl_node_type": "CX52",
			"run_nodes": []map[string]interface{}{
				{"name": "run-1", "allocatable_ram": "250Gi", "requested_ram": "100Gi"},
				{"name": "run-2", "allocatable_ram": "250Gi", "requested_ram": "120Gi"},
			},
			"volumes": 10, "services": 20, "customers": 15, "pods": 20, "etcd_objects": 300,
		})
	}
}

func (r *liveRouter) client() *Client {
	client := NewClient(r.baseURL, testToken)
	client.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	return client
}

// The PostgreSQL the suite uses: $CAPPLAN_TEST_PG (an admin URL), by default the shared `test` database.
func pgAdminURL() string {
	if value := os.Getenv("CAPPLAN_TEST_PG"); value != "" {
		return value
	}
	return "postgresql://postgres@127.0.0.1:5432/test"
}

// pgDatabase creates a database of its own for the test (dropped at the end) and returns its URL. Names start
// with go21_ (the Go client's issue), so suites running side by side never share one.
func pgDatabase(t *testing.T) *url.URL {
	t.Helper()
	psql, err := exec.LookPath("psql")
	if err != nil {
		needed(t, "no psql to create a PostgreSQL database with")
	}
	admin := pgAdminURL()
	var random [6]byte
	if _, err := rand.Read(random[:]); err != nil {
		t.Fatal(err)
	}
	name := "go21_" + hex.EncodeToString(random[:])
	run := func(statement string) error {
		output, err := exec.Command(psql, admin, "-v", "ON_ERROR_STOP=1", "-qc", statement).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", statement, err, output)
		}
		return nil
	}
	if err := run("CREATE DATABASE " + name); err != nil {
		needed(t, "PostgreSQL at %s is not usable: %v", admin, err)
	}
	t.Cleanup(func() {
		if err := run("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	parsed, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	parsed.Path = "/" + name
	parsed.RawQuery = ""
	return parsed
}

// backends runs a test body against a router on SQLite and one on PostgreSQL.
func backends(t *testing.T, body func(t *testing.T, router *liveRouter)) {
	t.Run("sqlite", func(t *testing.T) {
		router := startRouter(t, "sqlite:///"+filepath.Join(t.TempDir(), "router.db"))
		router.seedFleet(t)
		body(t, router)
	})
	t.Run("postgresql", func(t *testing.T) {
		router := startRouter(t, pgDatabase(t).String())
		router.seedFleet(t)
		body(t, router)
	})
}

// tcpProxy forwards a loopback port to a target; stop refuses connections and cuts the open ones, as a stopped
// database would, and start listens on the same port again.
type tcpProxy struct {
	target string
	addr   string

	mu       sync.Mutex
	listener net.Listener
	conns    map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	proxy := &tcpProxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	if err := proxy.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.stop)
	return proxy
}

func (p *tcpProxy) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		return nil
	}
	listener, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.listener, p.addr = listener, listener.Addr().String()
	go p.accept(listener)
	return nil
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		p.listener.Close()
		p.listener = nil
	}
	for conn := range p.conns {
		conn.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

func (p *tcpProxy) track(conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener == nil {
		return false
	}
	p.conns[conn] = struct{}{}
	return true
}

func (p *tcpProxy) accept(listener net.Listener) {
	for {
		client, err := listener.Accept()
		if err != nil {
			return
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client) || !p.track(upstream) {
			client.Close()
			upstream.Close()
			continue
		}
		go pump(client, upstream)
		go pump(upstream, client)
	}
}

func pump(from, to net.Conn) {
	_, _ = io.Copy(to, from)
	from.Close()
	to.Close()
}

// recordingTransport remembers every attempt's request id and status, to show retries reuse the request id.
type recordingTransport struct {
	mu       sync.Mutex
	attempts []recordedAttempt
}

type recordedAttempt struct {
	requestID string
	status    int
}

func (r *recordingTransport) RoundTrip(request *http.Request) (*http.Response, error) {
	var body struct {
		RequestID string `json:"request_id"`
	}
	if request.Body != nil {
		data, err := io.ReadAll(request.Body)
		if err != nil {
			return nil, err
		}
		request.Body = io.NopCloser(bytes.NewReader(data))
		_ = json.Unmarshal(data, &body)
	}
	response, err := http.DefaultTransport.RoundTrip(request)
	status := 0
	if response != nil {
		status = response.StatusCode
	}
	r.mu.Lock()
	r.attempts = append(r.attempts, recordedAttempt{body.RequestID, status})
	r.mu.Unlock()
	return response, err
}

func (r *recordingTransport) recorded() []recordedAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedAttempt(nil), r.attempts...)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
