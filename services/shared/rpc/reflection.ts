/**
 * grpc.reflection.v1.ServerReflection, so `grpcurl`, `buf curl` and grpcui can list and call this process's
 * services without the .proto files. No maintained package offers it for connect-es (connect-es issue
 * #507 is open; an RFC proposes @connectrpc/grpcreflect, not published), and it is small given
 * protobuf-es's descriptors: every generated service carries its file's FileDescriptorProto, and each
 * file its dependencies, which is all the protocol hands out.
 */
import { toBinary, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../../gen/grpc/reflection/v1/reflection_pb.ts";

type Answer = ServerReflectionResponse["messageResponse"];

/** Files by name and by each symbol they declare, reachable from the given services. */
class Descriptors {
  readonly services: string[];
  private readonly byName = new Map<string, DescFile>();
  private readonly bySymbol = new Map<string, DescFile>();

  constructor(services: readonly DescService[]) {
    this.services = [...new Set(services.map((service) => service.typeName))].sort();
    for (const service of services) this.add(service.file);
  }

  private add(file: DescFile): void {
    if (this.byName.has(file.proto.name)) return;
    this.byName.set(file.proto.name, file);
    const addMessage = (message: DescMessage) => {
      this.bySymbol.set(message.typeName, file);
      for (const nested of message.nestedMessages) addMessage(nested);
      for (const nested of message.nestedEnums) this.bySymbol.set(nested.typeName, file);
      for (const extension of message.nestedExtensions) this.bySymbol.set(extension.typeName, file);
    };
    file.messages.forEach(addMessage);
    for (const item of [...file.enums, ...file.extensions]) this.bySymbol.set(item.typeName, file);
    for (const service of file.services) {
      this.bySymbol.set(service.typeName, file);
      for (const method of service.methods) this.bySymbol.set(`${service.typeName}.${method.name}`, file);
    }
    for (const dependency of file.dependencies) this.add(dependency);
  }

  file(name: string): DescFile | undefined {
    return this.byName.get(name);
  }

  symbol(name: string): DescFile | undefined {
    return this.bySymbol.get(name.replace(/^\./, ""));
  }
}

/** The file and every file it imports, transitively, each once, the file first (as grpc-go answers). */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (current: DescFile) => {
    if (seen.has(current.proto.name)) return;
    seen.add(current.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, current.proto));
    current.dependencies.forEach(visit);
  };
  visit(file);
  return out;
}

const notFound = (what: string): Answer => ({
  case: "errorResponse",
  value: { $typeName: "grpc.reflection.v1.ErrorResponse", errorCode: Code.NotFound, errorMessage: `${what} not found` },
});

const files = (file: DescFile | undefined, what: string): Answer =>
  file
    ? { case: "fileDescriptorResponse", value: { $typeName: "grpc.reflection.v1.FileDescriptorResponse", fileDescriptorProto: withDependencies(file) } }
    : notFound(what);

function answer(descriptors: Descriptors, request: ServerReflectionRequest): Answer {
  const asked = request.messageRequest;
  switch (asked.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: {
          $typeName: "grpc.reflection.v1.ListServiceResponse",
          service: descriptors.services.map((name) => ({ $typeName: "grpc.reflection.v1.ServiceResponse", name })),
        },
      };
    case "fileByFilename":
      return files(descriptors.file(asked.value), `file ${JSON.stringify(asked.value.slice(0, 200))}`);
    case "fileContainingSymbol":
      return files(descriptors.symbol(asked.value), `symbol ${JSON.stringify(asked.value.slice(0, 200))}`);
    case "fileContainingExtension":
      return notFound("extension"); // these contracts declare no extensions
    case "allExtensionNumbersOfType":
      return descriptors.symbol(asked.value)
        ? { case: "allExtensionNumbersResponse", value: { $typeName: "grpc.reflection.v1.ExtensionNumberResponse", baseTypeName: asked.value, extensionNumber: [] } }
        : notFound(`type ${JSON.stringify(asked.value.slice(0, 200))}`);
    default:
      return {
        case: "errorResponse",
        value: { $typeName: "grpc.reflection.v1.ErrorResponse", errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" },
      };
  }
}

/**
 * Registers the reflection service describing every service registered on `router` so far, and itself;
 * call it last.
 */
export function registerReflection(router: ConnectRouter): void {
  const descriptors = new Descriptors([...router.handlers.map((handler) => handler.service), ServerReflection]);
  router.service(ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield { validHost: request.host, originalRequest: request, messageResponse: answer(descriptors, request) };
      }
    },
  });
}
