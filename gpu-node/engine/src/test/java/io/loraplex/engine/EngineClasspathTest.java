package io.loraplex.engine;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The engine is pure Java: Pekko must not be on its classpath (ARCHITECTURE.md). */
class EngineClasspathTest {

    @Test
    void pekkoIsNotOnTheEngineClasspath() {
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.apache.pekko.actor.ActorSystem"));
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.apache.pekko.actor.typed.ActorSystem"));
    }
}
