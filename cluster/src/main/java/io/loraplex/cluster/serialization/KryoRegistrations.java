package io.loraplex.cluster.serialization;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The classes the Kryo serializer knows, each with a fixed id. Ids are part of the wire format:
 * never reuse or renumber one, only append, so two versions can share a cluster. Ids below 100
 * are Kryo's own (primitives, String).
 */
public final class KryoRegistrations {

    /** Class name to id. Classes not public in the JDK or Pekko are named, not referenced. */
    static final Map<String, Integer> IDS;

    static {
        Map<String, Integer> ids = new LinkedHashMap<>();
        // JDK types that protocol records hold (100-149)
        ids.put("java.util.ImmutableCollections$ListN", 100);
        ids.put("java.util.ImmutableCollections$List12", 101);
        ids.put("java.util.ImmutableCollections$SetN", 102);
        ids.put("java.util.ImmutableCollections$Set12", 103);
        ids.put("java.util.ImmutableCollections$MapN", 104);
        ids.put("java.util.ImmutableCollections$Map1", 105);
        ids.put("java.util.ArrayList", 106);
        ids.put("java.util.HashMap", 107);
        ids.put("java.util.LinkedHashMap", 108);
        ids.put("java.util.HashSet", 109);
        ids.put("java.util.LinkedHashSet", 110);
        ids.put("int[]", 111);
        ids.put("byte[]", 112);
        ids.put("float[]", 113);
        ids.put("java.util.ImmutableCollections$SubList", 114);
        // Pekko references (150-199), serialized by Pekko's own means
        ids.put("org.apache.pekko.actor.typed.internal.adapter.ActorRefAdapter", 150);
        ids.put("org.apache.pekko.stream.impl.streamref.SourceRefImpl", 151);
        ids.put("org.apache.pekko.stream.impl.streamref.SinkRefImpl", 152);
        // ids (200-219)
        ids.put(TenantId.class.getName(), 200);
        ids.put(NodeId.class.getName(), 201);
        ids.put(ContentHash.class.getName(), 202);
        ids.put(AdapterRef.class.getName(), 203);
        // GPU node protocol (300-399)
        ids.put(GpuNodeProtocol.ChatMessage.class.getName(), 300);
        ids.put(GpuNodeProtocol.ChatPrompt.class.getName(), 301);
        ids.put(GpuNodeProtocol.TextPrompt.class.getName(), 302);
        ids.put(GpuNodeProtocol.GenerationParams.class.getName(), 303);
        ids.put(GpuNodeProtocol.Generate.class.getName(), 304);
        ids.put(GpuNodeProtocol.Started.class.getName(), 305);
        ids.put(GpuNodeProtocol.RejectReason.class.getName(), 306);
        ids.put(GpuNodeProtocol.Rejected.class.getName(), 307);
        // 308 retired (issue 16): GpuNodeProtocol.Cancel, which nothing sent (a stream's cancellation stops a generation)
        ids.put(GpuNodeProtocol.TopLogprob.class.getName(), 309);
        ids.put(GpuNodeProtocol.TokenLogprob.class.getName(), 310);
        ids.put(GpuNodeProtocol.TokenText.class.getName(), 311);
        ids.put(GpuNodeProtocol.Finished.class.getName(), 312);
        ids.put(GpuNodeProtocol.Failed.class.getName(), 313);
        ids.put(GpuNodeProtocol.LoadAdapter.class.getName(), 314);
        ids.put(GpuNodeProtocol.EvictAdapter.class.getName(), 315);
        ids.put(GpuNodeProtocol.Ack.class.getName(), 316);
        ids.put(GpuNodeProtocol.GetStats.class.getName(), 317);
        ids.put(GpuNodeProtocol.NodeStats.class.getName(), 318);
        ids.put(GpuNodeProtocol.ValidateAdapter.class.getName(), 319);
        ids.put(GpuNodeProtocol.Validation.class.getName(), 320);
        // tenant protocol (400-499)
        ids.put(TenantProtocol.Scope.class.getName(), 400);
        ids.put(TenantProtocol.Limits.class.getName(), 401);
        ids.put(TenantProtocol.Setup.class.getName(), 402);
        ids.put(TenantProtocol.AddApiKey.class.getName(), 403);
        // 404 retired (issue 16): TenantProtocol.RevokeApiKey by hash, which nothing sent (keys are revoked by id)
        // 405 retired (issue 16): TenantProtocol.SetModel, which nothing sent (the Adapter entity sends UpdateCatalog)
        ids.put(TenantProtocol.Admit.class.getName(), 406);
        ids.put(TenantProtocol.Admitted.class.getName(), 407);
        ids.put(TenantProtocol.DenyReason.class.getName(), 408);
        ids.put(TenantProtocol.Denied.class.getName(), 409);
        ids.put(TenantProtocol.Finished.class.getName(), 410);
        ids.put(TenantProtocol.ListModels.class.getName(), 411);
        ids.put(TenantProtocol.ModelEntry.class.getName(), 412);
        ids.put(TenantProtocol.ModelList.class.getName(), 413);
        ids.put(TenantProtocol.GetInfo.class.getName(), 414);
        ids.put(TenantProtocol.Info.class.getName(), 415);
        ids.put(TenantProtocol.Ack.class.getName(), 416);
        ids.put(TenantProtocol.CreateApiKey.class.getName(), 417);
        ids.put(TenantProtocol.KeyCreated.class.getName(), 418);
        ids.put(TenantProtocol.ListApiKeys.class.getName(), 419);
        ids.put(TenantProtocol.KeyInfo.class.getName(), 420);
        ids.put(TenantProtocol.KeyList.class.getName(), 421);
        ids.put(TenantProtocol.RevokeApiKeyById.class.getName(), 422);
        ids.put(TenantProtocol.Authorize.class.getName(), 423);
        ids.put(TenantProtocol.Authorization.class.getName(), 424);
        ids.put(TenantProtocol.UpdateCatalog.class.getName(), 425);
        ids.put(TenantProtocol.ReserveStorage.class.getName(), 426);
        ids.put(TenantProtocol.ReleaseStorage.class.getName(), 427);
        ids.put(TenantProtocol.GetUsage.class.getName(), 428);
        ids.put(TenantProtocol.UsageRow.class.getName(), 429);
        ids.put(TenantProtocol.UsageReport.class.getName(), 430);
        ids.put(TenantProtocol.TrackAdapterName.class.getName(), 431);
        ids.put(TenantProtocol.ListAdapterNames.class.getName(), 432);
        ids.put(TenantProtocol.AdapterNames.class.getName(), 433);
        ids.put(TenantProtocol.Passivate.class.getName(), 434);
        // adapter lifecycle protocol (500-599)
        ids.put(AdapterProtocol.VersionState.class.getName(), 500);
        ids.put(AdapterProtocol.RegisterVersion.class.getName(), 501);
        ids.put(AdapterProtocol.Promote.class.getName(), 502);
        ids.put(AdapterProtocol.StartCanary.class.getName(), 503);
        ids.put(AdapterProtocol.StopCanary.class.getName(), 504);
        ids.put(AdapterProtocol.Rollback.class.getName(), 505);
        ids.put(AdapterProtocol.Retire.class.getName(), 506);
        ids.put(AdapterProtocol.Delete.class.getName(), 507);
        ids.put(AdapterProtocol.Get.class.getName(), 508);
        ids.put(AdapterProtocol.Reply.class.getName(), 509);
        ids.put(AdapterProtocol.Error.class.getName(), 510);
        ids.put(AdapterProtocol.HistoryEntry.class.getName(), 511);
        ids.put(AdapterProtocol.VersionView.class.getName(), 512);
        ids.put(AdapterProtocol.AdapterView.class.getName(), 513);
        // blob store protocol (600-699)
        ids.put(BlobProtocol.BeginUpload.class.getName(), 600);
        ids.put(BlobProtocol.UploadOpened.class.getName(), 601);
        ids.put(BlobProtocol.PutFile.class.getName(), 602);
        ids.put(BlobProtocol.PutArchive.class.getName(), 603);
        ids.put(BlobProtocol.FileSink.class.getName(), 604);
        ids.put(BlobProtocol.Finish.class.getName(), 605);
        ids.put(BlobProtocol.Stored.class.getName(), 606);
        ids.put(BlobProtocol.Abort.class.getName(), 607);
        ids.put(BlobProtocol.DeleteBlob.class.getName(), 608);
        ids.put(BlobProtocol.Deleted.class.getName(), 609);
        ids.put(BlobProtocol.ReadBlob.class.getName(), 610);
        ids.put(BlobProtocol.BlobRead.class.getName(), 611);
        // fine-tuning (700-799): GPU node training messages, the file store, the FineTune entity
        ids.put(GpuNodeProtocol.ValidateTrainingFile.class.getName(), 700);
        ids.put(GpuNodeProtocol.FileProblem.class.getName(), 701);
        ids.put(GpuNodeProtocol.TrainingFileVerdict.class.getName(), 702);
        ids.put(GpuNodeProtocol.TrainingHyperparameters.class.getName(), 703);
        ids.put(GpuNodeProtocol.TrainAdapter.class.getName(), 704);
        ids.put(GpuNodeProtocol.CancelTraining.class.getName(), 705);
        ids.put(GpuNodeProtocol.TrainingStarted.class.getName(), 706);
        ids.put(GpuNodeProtocol.TrainingProgress.class.getName(), 707);
        ids.put(GpuNodeProtocol.TrainingFinished.class.getName(), 708);
        ids.put(GpuNodeProtocol.TrainingFailed.class.getName(), 709);
        ids.put(FileStoreProtocol.FileRef.class.getName(), 720);
        ids.put(FileStoreProtocol.OpenUpload.class.getName(), 721);
        ids.put(FileStoreProtocol.UploadSink.class.getName(), 722);
        ids.put(FileStoreProtocol.Finish.class.getName(), 723);
        ids.put(FileStoreProtocol.Stored.class.getName(), 724);
        ids.put(FileStoreProtocol.Abort.class.getName(), 725);
        ids.put(FileStoreProtocol.ReadFile.class.getName(), 726);
        ids.put(FileStoreProtocol.FileSource.class.getName(), 727);
        ids.put(FileStoreProtocol.DeleteFile.class.getName(), 728);
        ids.put(FileStoreProtocol.Deleted.class.getName(), 729);
        ids.put(FineTuneProtocol.Error.class.getName(), 740);
        ids.put(FineTuneProtocol.FileInfo.class.getName(), 741);
        ids.put(FineTuneProtocol.AddFile.class.getName(), 742);
        ids.put(FineTuneProtocol.ListFiles.class.getName(), 743);
        ids.put(FineTuneProtocol.GetFile.class.getName(), 744);
        ids.put(FineTuneProtocol.DeleteFile.class.getName(), 745);
        ids.put(FineTuneProtocol.FileReply.class.getName(), 746);
        ids.put(FineTuneProtocol.FileList.class.getName(), 747);
        ids.put(FineTuneProtocol.JobStatus.class.getName(), 748);
        ids.put(FineTuneProtocol.JobRequest.class.getName(), 749);
        ids.put(FineTuneProtocol.CreateJob.class.getName(), 750);
        ids.put(FineTuneProtocol.ListJobs.class.getName(), 751);
        ids.put(FineTuneProtocol.GetJob.class.getName(), 752);
        ids.put(FineTuneProtocol.ListJobEvents.class.getName(), 753);
        ids.put(FineTuneProtocol.CancelJob.class.getName(), 754);
        ids.put(FineTuneProtocol.JobView.class.getName(), 755);
        ids.put(FineTuneProtocol.JobReply.class.getName(), 756);
        ids.put(FineTuneProtocol.JobList.class.getName(), 757);
        ids.put(FineTuneProtocol.Metrics.class.getName(), 758);
        ids.put(FineTuneProtocol.JobEvent.class.getName(), 759);
        ids.put(FineTuneProtocol.JobEvents.class.getName(), 760);
        ids.put(GpuNodeProtocol.HeldAdapter.class.getName(), 770);
        ids.put(GpuNodeProtocol.PinAdapter.class.getName(), 771);
        ids.put(GpuNodeProtocol.DropAdapter.class.getName(), 772);
        ids.put(GpuNodeProtocol.SetDraining.class.getName(), 773);
        ids.put(GpuNodeProtocol.Leave.class.getName(), 774);
        ids.put(TenantProtocol.ResolveModel.class.getName(), 775);
        ids.put(TenantProtocol.Resolved.class.getName(), 776);
        ids.put(GpuNodeProtocol.FailureCode.class.getName(), 777);
        ids.put(AdapterProtocol.MarkFailed.class.getName(), 778);
        ids.put(TenantProtocol.HoldUpload.class.getName(), 779);
        ids.put(TenantProtocol.ReleaseUpload.class.getName(), 780);
        ids.put(TenantProtocol.LetGoStorage.class.getName(), 781);
        ids.put(TenantProtocol.StorageLeft.class.getName(), 782);
        ids.put(TenantProtocol.Quarantine.class.getName(), 783);
        // issue 16: the one node-choice policy (800-809)
        ids.put(PlacementProtocol.ChooseNode.class.getName(), 800);
        ids.put(PlacementProtocol.Work.class.getName(), 801);
        ids.put(PlacementProtocol.Chosen.class.getName(), 802);
        ids.put(PlacementProtocol.NoNode.class.getName(), 803);
        ids.put(PlacementProtocol.NoNodeReason.class.getName(), 804);
        // issue 19: output constraints (805-806)
        ids.put(GpuNodeProtocol.OutputConstraint.class.getName(), 805);
        ids.put(GpuNodeProtocol.OutputConstraint.Kind.class.getName(), 806);
        // issue 16: types, not strings, across modules (810-829)
        ids.put(GpuNodeProtocol.AdapterTier.class.getName(), 810);
        ids.put(GpuNodeProtocol.FinishReason.class.getName(), 811);
        // issue 16: typed training-failure codes (830-839)
        ids.put(FineTuneProtocol.TrainingFailureCode.class.getName(), 830);
        // issue 19: tool calls in chat messages (885-894)
        ids.put(GpuNodeProtocol.ToolCall.class.getName(), 885);
        // issue 19: exact text and token-id prompts (870-874)
        ids.put(GpuNodeProtocol.TokenPrompt.class.getName(), 870);
        IDS = Collections.unmodifiableMap(ids);
    }

    private KryoRegistrations() {
    }

    /** Every registered class that is a protocol message (for the round-trip tests). */
    public static List<Class<?>> protocolClasses() {
        List<Class<?>> out = new ArrayList<>();
        for (String name : IDS.keySet()) {
            if (name.startsWith("io.loraplex.")) {
                out.add(load(name));
            }
        }
        return out;
    }

    static Class<?> load(String name) {
        try {
            return switch (name) {
                case "int[]" -> int[].class;
                case "byte[]" -> byte[].class;
                case "float[]" -> float[].class;
                default -> Class.forName(name);
            };
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("Kryo registration names a missing class: " + name, e);
        }
    }
}
