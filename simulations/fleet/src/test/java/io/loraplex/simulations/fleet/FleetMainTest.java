package io.loraplex.simulations.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The command line refuses what it cannot run with one line naming it (exit status 2), and prints its usage on --help. */
class FleetMainTest {

    private record Ran(int status, String out, String err) {
    }

    private static Ran run(String... args) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = FleetMain.command(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Ran(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void helpPrintsTheUsageAndSucceeds() throws Exception {
        Ran r = run("--help");
        assertEquals(0, r.status());
        assertTrue(r.out().startsWith("usage: simulations/fleet/run.sh"), r.out());
    }

    @Test
    void anUnknownFlagIsNamed() throws Exception {
        Ran r = run("--bogus");
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("fleet: unknown flag '--bogus'\n"), r.err());
    }

    @Test
    void aNumberThatIsNotOneIsNamedByItsValue() throws Exception {
        Ran r = run("--nodes", "many");
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("fleet: not a number: For input string: \"many\""), r.err());
    }

    @Test
    void aFlagWithoutItsValueIsNamed() throws Exception {
        Ran r = run("--nodes");
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("fleet: --nodes needs a value"), r.err());
    }

    @Test
    void aSettingOutOfRangeIsNamedWithItsValue() throws Exception {
        Ran r = run("--set", "fleet.nodes = -3");
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("fleet: fleet.nodes must be >= 1, was -3"), r.err());
    }

    @Test
    void anUnknownPolicyIsNamedWithTheOnesThereAre() throws Exception {
        Ran r = run("--policy", "nope");
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("fleet: fleet.placement.policy: unknown policy 'nope'; expected rendezvous-bounded, random or least-loaded"),
                r.err());
    }
}
