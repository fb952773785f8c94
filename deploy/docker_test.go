package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every Dockerfile: pinned base images, a static build, a non-root user,
// and COPY/build paths that exist in the repository.
func TestDockerfiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(deployDir(t), "docker", "*.Dockerfile"))
	if len(files) != 2 {
		t.Fatalf("want the tracehouse and sample-services Dockerfiles, found %v", files)
	}
	from := regexp.MustCompile(`(?m)^FROM\s+(\S+)`)
	// `go build … -o OUT PKG`, or `go -C DIR build …` for a package of
	// another module (healthcheck is in deploy/go.mod).
	build := regexp.MustCompile(`go (?:-C (\S+) )?build [^&\n]*?-o \S+ (\S+)`)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(b), "\\\n", " ")
			for _, m := range from.FindAllStringSubmatch(text, -1) {
				image := m[1]
				name, tag, ok := strings.Cut(image, ":")
				// Distroless publishes no version tags: the Debian release in
				// the name and the nonroot tag are the pin (or a digest).
				distroless := strings.HasPrefix(name, "gcr.io/distroless/") && regexp.MustCompile(`-debian\d+$`).MatchString(name) && tag == "nonroot"
				if !distroless && (!ok || tag == "" || tag == "latest" || !strings.ContainsAny(tag, "0123456789")) {
					t.Errorf("base image %q is not pinned to a version tag", image)
				}
			}
			if !strings.Contains(text, "CGO_ENABLED=0") {
				t.Error("the build is not static (CGO_ENABLED=0)")
			}
			if strings.Contains(text, "healthcheck") {
				mustExist(t, filepath.Join(repoRoot(t), "deploy", "docker", "healthcheck", "main.go"), "healthcheck source")
			}
			users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(text, -1)
			if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "root") || strings.HasPrefix(users[len(users)-1][1], "0") {
				t.Errorf("the final image must run as a non-root user, USER lines: %v", users)
			}
			builds := 0
			defer func() {
				if builds < 2 {
					t.Errorf("%d go build commands found, want the binary and healthcheck", builds)
				}
			}()
			for _, line := range strings.Split(text, "\n") {
				for _, m := range build.FindAllStringSubmatch(line, -1) {
					builds++
					target := filepath.Join(m[1], m[2])
					mustExist(t, filepath.Join(repoRoot(t), target, "main.go"), "go build target "+target)
					if m[1] != "" {
						mustExist(t, filepath.Join(repoRoot(t), m[1], "go.mod"), "module of go -C "+m[1])
					}
				}
				f := strings.Fields(line)
				if len(f) >= 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--from") {
					for _, src := range f[1 : len(f)-1] {
						mustExist(t, filepath.Join(repoRoot(t), src), "COPY source "+src)
					}
				}
			}
			mustExist(t, path+".dockerignore", "Dockerfile-specific .dockerignore")
		})
	}
}
