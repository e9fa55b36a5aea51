// Command compose-check validates a compose file the way `docker compose config`
// does (same library: compose-spec/compose-go), for machines with the docker
// client but no compose plugin.
//
//	compose-check [--profile NAME]... [FILE]...
//
// Like `docker compose --profile NAME config`, a profile's services are checked
// as part of the project (their depends_on, volumes and ports) only when the
// profile is named; without it they are left out, as compose leaves them out.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	var files, profiles []string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		if args[i] == "--profile" {
			if i+1 == len(args) {
				fail(fmt.Errorf("--profile needs a name"))
			}
			i++
			profiles = append(profiles, args[i])
			continue
		}
		files = append(files, args[i])
	}
	if len(files) == 0 {
		files = []string{"docker-compose.yml"}
	}
	options, err := cli.NewProjectOptions(files, cli.WithOsEnv, cli.WithDotEnv, cli.WithProfiles(profiles))
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	fmt.Printf("compose-check: %s is valid with profiles %v: %d services (%v)\n", files[0], profiles, len(project.Services), project.ServiceNames())
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
	os.Exit(1)
}
